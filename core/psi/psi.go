// Package psi parses pressure stall information and opens PSI triggers.
//
// parse.go reads pressure files (Documentation/accounting/psi.rst),
// trigger.go registers kernel triggers, stall.go turns two samples of the
// cumulative totals into a stall percentage.
package psi
