#!/bin/sh
# node.sh - one node of scripts/slurm-vm.sh's Slurm cluster (run inside the
# VM as root after boot by the image's runner unit, as vm-test.sh; POSIX sh).
#
# Both nodes: load the virtio-net driver from the test disk, give the NIC
# 10.99.0.N, install the configuration, start munge, cgroupd (the unit
# with keep-jobs.conf) and slurmd. Node 1
# also starts MariaDB, slurmdbd and slurmctld, waits for both nodes to be
# idle, submits jobs (sbatch: one that exits 0, one that exits 3, a job
# array of 4 tasks, each taking a whole node, so that they spread over
# both) and checks what slurmctld (scontrol) and the accounting (sacct)
# report, that the jobs ran in Slurm's own cgroups and that cgroupd beside
# took none of them for its own. Node 2 shows slurmd's log until
# the host stops its VM. Prints one `ok`/`FAIL` line per check and
# `N passed, M failed` (node 1); exits 1 on the first failure.
set -u
T=$(cd "$(dirname "$0")" && pwd)
N=$(cat "$T/node")
PASS=0
export PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

. "$T/poll.sh"
say() { echo "[$(now)] n$N: $*"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
fail() {
	say "FAIL: $*"
	for u in munge mariadb slurmdbd slurmctld slurmd; do
		systemctl is-active -q "$u" 2>/dev/null || systemctl status --no-pager -l "$u" 2>&1 | head -n 12
	done
	for f in /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log /var/log/slurm/slurmdbd.log; do
		[ -f "$f" ] && { echo "--- $f (last 25) ---"; tail -n 25 "$f"; }
	done
	echo "$PASS passed, 1 failed"
	exit 1
}
pass() { PASS=$((PASS + 1)); say "ok: $*"; }
start() {
	_t=$(now)
	timeout 300 systemctl start "$1" || fail "systemctl start $1 exited $?"
	say "$1 started in $(since "$_t") s"
}

[ "$(hostname)" = "n$N" ] || fail "hostname $(hostname), want n$N"
slurmd -V >/dev/null 2>&1 || fail "no slurmd"
pass "n$N: $(slurmd -V), $(munged -V 2>&1 | head -n 1), systemd $(systemctl --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')"

# ---- network: virtio-net from the test disk, 10.99.0.N ---------------------
t0=$(now)
mods=/lib/modules/$(uname -r)
mkdir -p "$mods"
cp -r "$T/modules/." "$mods/" || fail "copy the modules into $mods"
depmod -a || fail "depmod"
out=$(modprobe -a virtio_pci virtio_net 2>&1) || fail "modprobe virtio_pci virtio_net: $out"
nic() { for d in /sys/class/net/*; do [ "${d##*/}" = lo ] || { echo "${d##*/}"; return 0; }; done; return 1; }
wait_for 'nic >/dev/null' 30 "the virtio NIC"
if=$(nic)
ip link set lo up
ip addr add "10.99.0.$N/24" dev "$if" || fail "ip addr add on $if"
ip link set "$if" up || fail "ip link set $if up"
printf '10.99.0.1 n1\n10.99.0.2 n2\n' >>/etc/hosts
pass "network: $if 10.99.0.$N/24 in $(since "$t0") s"

# ---- configuration, munge ---------------------------------------------------
install -m 0644 "$T/slurm.conf" "$T/cgroup.conf" /etc/slurm/ || fail "install slurm.conf"
install -d -o slurm -g slurm /var/lib/slurm /var/lib/slurm/slurmctld /var/log/slurm || fail "slurm dirs"
install -d /var/lib/slurm/slurmd
start munge
out=$(munge -n | unmunge 2>&1) || fail "munge -n | unmunge: $out"
pass "munge: a credential round trip"

# ---- cgroupd beside Slurm: the unit with keep-jobs.conf ---------------------
install -m 0755 "$T/cgroupbox" /usr/local/bin/cgroupbox || fail "install cgroupbox"
for a in cgroupd cgroupctl memhog cpuhog; do ln -sf cgroupbox "/usr/local/bin/$a"; done
install -m 0644 "$T/cgroupd.service" /etc/systemd/system/ || fail "install cgroupd.service"
install -d /etc/systemd/system/cgroupd.service.d
install -m 0644 "$T/keep-jobs.conf" /etc/systemd/system/cgroupd.service.d/ || fail "install keep-jobs.conf"
systemctl daemon-reload
start cgroupd
[ "$(systemctl show -p ActiveState --value cgroupd)" = active ] || fail "cgroupd not active"
pass "cgroupd running beside Slurm: $(systemctl show -p StatusText --value cgroupd)"

if [ "$N" -ne 1 ]; then
	start slurmd
	pass "slurmd started; following its log until the host stops this VM"
	tail -n +1 -f /var/log/slurm/slurmd.log
	exit 0
fi

# ---- node 1: accounting, controller, compute --------------------------------
start mariadb
mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'cgroupd-vm';
	GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" || fail "mariadb: create the slurm user"
install -m 0600 -o slurm -g slurm "$T/slurmdbd.conf" /etc/slurm/slurmdbd.conf || fail "install slurmdbd.conf"
# dbd: (re)start slurmdbd; 0 once sacctmgr gets an answer, 1 if it dies.
dbdstate() { systemctl show -p ActiveState --value slurmdbd; }
dbd() {
	timeout 300 systemctl restart slurmdbd || return 1
	poll 'sacctmgr -n list cluster >/dev/null 2>&1 || [ "$(dbdstate)" = failed ] || [ "$(dbdstate)" = inactive ]' 120 || return 1
	sacctmgr -n list cluster >/dev/null 2>&1
}
# slurmdbd's first start after MariaDB's has exited with "mysql_query
# failed: 5027 Number of columns in result (=1) set execeeds maxmimum
# allowed number of columns (=0)" and "fatal: _check_mysql_concat_is_sane"
# here, and a start after that succeeded: up to 3 tries, each failure shown.
for try in 1 2 3; do
	dbd && break
	say "slurmdbd start $try failed: $(grep -E 'fatal|error: mysql' /var/log/slurm/slurmdbd.log | tail -n 2 | tr '\n' ' ')"
	[ "$try" -lt 3 ] || fail "slurmdbd $(slurmdbd -V 2>&1) did not start in 3 tries with MariaDB $(mariadb -N -e 'select version()' 2>&1)"
done
sacctmgr -i add cluster cgd >/dev/null 2>&1 || true
pass "slurmdbd answers (start $try): clusters $(sacctmgr -n -P list cluster format=cluster | tr '\n' ' ')"
start slurmctld
start slurmd
t0=$(now)
idle() { [ "$(sinfo -h -N -o '%N %t' 2>/dev/null | sort | tr '\n' ' ')" = "n1 idle n2 idle " ]; }
wait_for idle 400 "n1 and n2 idle in sinfo (now: $(sinfo -h -N -o '%N %t' 2>&1 | tr '\n' ' '))"
pass "sinfo: n1 and n2 idle after $(since "$t0") s"

# ---- jobs --------------------------------------------------------------------
mkdir -p /tmp/jobs && chmod 1777 /tmp/jobs
cd /tmp/jobs || fail "cd /tmp/jobs"
ok=$(sbatch --parsable -w n1 -o ok.out --wrap 'cat /proc/self/cgroup; exit 0') || fail "sbatch ok"
bad=$(sbatch --parsable -o bad.out --wrap 'exit 3') || fail "sbatch bad"
arr=$(sbatch --parsable --array=1-4 -N1 -n1 -c2 -o arr-%a.out --wrap 'hostname; sleep 3') || fail "sbatch --array"
say "submitted: ok=$ok bad=$bad array=$arr"
t0=$(now)
wait_for '[ -z "$(squeue -h 2>/dev/null)" ] && squeue >/dev/null 2>&1' 600 "the jobs to end (squeue: $(squeue -h 2>&1 | tr '\n' '|'))"
say "all jobs ended after $(since "$t0") s"
# slurmctld's own record of each job (kept MinJobAge=600 s after the end):
# id|state|exit code|nodes, array tasks as <job>_<task>.
ctl() {
	for j in "$ok" "$bad" "$arr"; do scontrol -o show job "$j"; done 2>/dev/null | awk '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = substr($i, length(kv[1]) + 2) }
		id = v["JobId"]; if (v["ArrayTaskId"] != "") id = v["ArrayJobId"] "_" v["ArrayTaskId"]
		print id "|" v["JobState"] "|" v["ExitCode"] "|" v["NodeList"]; delete v }'
}
# check NAME LISTER: the jobs as LISTER reports them.
check() {
	$2 | sed "s/^/  $1: /"
	$2 | grep -qx "$ok|COMPLETED|0:0|n1" || fail "$1: job $ok: want COMPLETED 0:0 on n1"
	$2 | grep -q "^$bad|FAILED|3:0|" || fail "$1: job $bad: want FAILED 3:0"
	for a in 1 2 3 4; do
		$2 | grep -q "^${arr}_$a|COMPLETED|0:0|n[12]$" || fail "$1: array task ${arr}_$a: want COMPLETED 0:0"
	done
	nodes=$($2 | sed -n "s/^${arr}_[0-9]*|COMPLETED|0:0|\(n[12]\)$/\1/p" | sort -u | tr '\n' ' ')
	[ "$nodes" = "n1 n2 " ] || fail "$1: the array ran on '$nodes', want n1 and n2"
	pass "$1: $ok COMPLETED 0:0 (n1), $bad FAILED 3:0, array $arr: 4 tasks COMPLETED 0:0 over $nodes"
}
check scontrol ctl
# Accounting reaches slurmdbd a little after the end.
acct() { sacct -X -n -P -j "$ok,$bad,$arr" -o JobID,State,ExitCode,NodeList 2>/dev/null; }
wait_for '[ "$(acct | grep -c "|COMPLETED|\|FAILED|")" -ge 6 ]' 120 "sacct to show 6 ended jobs (now: $(acct | tr '\n' ' '))"
check sacct acct
cg=$(cat ok.out)
# Debian's Slurm names the scope after the node (<node>_slurmstepd.scope).
case $cg in "0::/system.slice/n1_slurmstepd.scope/job_$ok/step_batch/"*) ;; *) fail "job $ok ran in '$cg', want system.slice/n1_slurmstepd.scope/job_$ok/step_batch/..." ;; esac
pass "job $ok ran in Slurm's own cgroup: ${cg#0::}"
# cgroupd, beside, saw none of it as its own: no job, no unknown cgroup.
[ "$(systemctl show -p StatusText --value cgroupd)" = "0 running, 0 frozen, 0 pending, 0 ended" ] ||
	fail "cgroupd's status after the Slurm jobs: $(systemctl show -p StatusText --value cgroupd)"
journalctl -u cgroupd -o cat | grep -q "type=cgroup.unknown" && fail "cgroupd reported an unknown cgroup"
pass "cgroupd untouched by the Slurm jobs: $(systemctl show -p StatusText --value cgroupd)"

echo "$PASS passed, 0 failed"
exit 0
