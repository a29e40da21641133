package ctl

import (
	"runtime"
	"strings"

	"cgroupd/applets/daemon"
)

// versionLine is cgroupctl's --version: the shape of `cgroupbox -V`,
// `cgroupctl VERSION commit COMMIT linux/ARCH GOVERSION`. The version and
// commit are those main hands the daemon (daemon.Version, VERSION+COMMIT
// from -ldflags or the build info): one binary, one version.
func versionLine() string {
	v, c := daemon.Version, "unknown"
	if i := strings.LastIndexByte(v, '+'); i >= 0 {
		v, c = v[:i], v[i+1:]
	}
	return "cgroupctl " + v + " commit " + c + " " + runtime.GOOS + "/" + runtime.GOARCH + " " + runtime.Version()
}
