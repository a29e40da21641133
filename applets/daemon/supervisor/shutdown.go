package supervisor

import "sort"

// sortedJobs returns every job in start order.
func (sv *core) sortedJobs() []*Job {
	out := make([]*Job, 0, len(sv.jobs))
	for _, j := range sv.jobs {
		out = append(out, j)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Seq() < out[b].Seq() })
	return out
}
