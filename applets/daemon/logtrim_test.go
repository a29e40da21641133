package daemon

import (
	"strings"
	"testing"
)

func TestLogFlags(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		max    int64
		retain int
		err    string
	}{
		{nil, 8 << 20, 1000, ""},
		{[]string{"--log-max-size", "1M"}, 1 << 20, 1000, ""},
		{[]string{"--log-max-size=64K", "--log-retain", "0"}, 64 << 10, 0, ""},
		{[]string{"--log-max-size", "max"}, -1, 1000, ""},
		{[]string{"--log-max-size", "63K"}, 0, 0, "--log-max-size: 63K is below the least size 64K"},
		{[]string{"--log-max-size", "0"}, 0, 0, "--log-max-size: 0 is below"},
		{[]string{"--log-max-size", "lots"}, 0, 0, `--log-max-size: invalid size "lots"`},
		{[]string{"--log-retain", "-1"}, 0, 0, "--log-retain: must be 0 or more"},
		{[]string{"--log-retain", "x"}, 0, 0, "log-retain"},
	} {
		c, err := parseFlags(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseFlags(%q): error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseFlags(%q): %v", tc.args, err)
			continue
		}
		if c.LogMaxSize != tc.max || c.LogRetain != tc.retain {
			t.Errorf("parseFlags(%q) = max %d retain %d, %v; want %d %d", tc.args, c.LogMaxSize, c.LogRetain, nil, tc.max, tc.retain)
		}
	}
}
