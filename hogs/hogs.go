// Package hogs holds the load generators memhog and cpuhog.
package hogs

import "io"

// Memhog: memhog <megabytes> [seconds]
func Memhog(args []string, stdin io.Reader, stdout, stderr io.Writer) int { panic("unimplemented") }

// Cpuhog: cpuhog [threads] [seconds]
func Cpuhog(args []string, stdin io.Reader, stdout, stderr io.Writer) int { panic("unimplemented") }
