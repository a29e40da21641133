package daemon

import "io"

// Run is the applet entry point.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int { panic("unimplemented") }
