module cgroupd

go 1.26.8
