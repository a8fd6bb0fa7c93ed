// Package buildinfo says which build of zlog is running: every binary's
// --version, and the labels of the zlog_build_info metric (package
// buildmetric, apart so that logq links no metrics library).
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set at link time by the Makefile:
// -ldflags "-X github.com/zlog/zlog/schema/buildinfo.Version=v1.2.3".
var Version string

// Current is Version, else the module version Go recorded, else "devel".
func Current() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// String is what --version prints: "logq v1.2.3 (go1.26.8, linux/amd64)".
func String(program string) string {
	return fmt.Sprintf("%s %s (%s, %s/%s)", program, Current(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
