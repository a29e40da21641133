package ctl

import "runtime"

// VersionLine is cgroupctl's --version: the shape of `cgroupbox -V`,
// `cgroupctl VERSION commit COMMIT linux/ARCH GOVERSION`. main sets it
// (one binary, one version); the client does not import the daemon for it.
var VersionLine = func() string {
	return "cgroupctl unknown commit unknown " + runtime.GOOS + "/" + runtime.GOARCH + " " + runtime.Version()
}
