package psi

import (
	"testing"
	"time"
)

func TestStall(t *testing.T) {
	tests := []struct {
		name      string
		prev, cur uint64
		elapsed   time.Duration
		want      float64
	}{
		{"idle", 100, 100, time.Second, 0},
		{"half", 0, 500_000, time.Second, 50},
		{"ten percent of 500ms", 1000, 51_000, 500 * time.Millisecond, 10},
		{"clamped to 100", 0, 3_000_000, time.Second, 100},
		{"counter went back", 5000, 10, time.Second, 0},
		{"zero elapsed", 0, 1000, 0, 0},
		{"negative elapsed", 0, 1000, -time.Second, 0},
		{"sub-microsecond elapsed", 0, 1000, 500 * time.Nanosecond, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Stall(Line{Total: tc.prev}, Line{Total: tc.cur}, tc.elapsed)
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
