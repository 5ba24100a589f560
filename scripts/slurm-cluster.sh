#!/usr/bin/env bash
# A throw-away single-node Slurm cluster on 127.0.0.1, every file under DIR, for tests and for
# trying `vpipe segments submit --engine slurm` by hand (needs slurmctld slurmd slurm-client munge,
# installed by scripts/setup.sh; runs as root, no systemd).
#   scripts/slurm-cluster.sh start DIR [CTLD_PORT [SLURMD_PORT]]   # prints: export SLURM_CONF=DIR/slurm.conf
#   scripts/slurm-cluster.sh stop DIR                             # stops its daemons by PID
# Ports default to 16817/16818; give free ones to run clusters side by side.
set -euo pipefail
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n '2,8p' "$0"; exit 2; }

stop() {
  local pids=() f p
  for f in slurmd slurmctld munged; do
    [ -f "$dir/run/$f.pid" ] && pids+=("$(cat "$dir/run/$f.pid")")
  done
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$p" 2>/dev/null || true
  done
  rm -f "$dir"/run/*.pid
}

case $cmd in
stop) stop; exit 0 ;;
start) ;;
*) echo "unknown command '$cmd' (start or stop)" >&2; exit 2 ;;
esac

ctld_port=${3:-16817}
slurmd_port=${4:-16818}
dir=$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")
mkdir -p "$dir"/{munge,msock,state,spool,log,run}
chmod 755 "$dir" "$dir/msock"
chmod 700 "$dir/munge"
[ -f "$dir/munge/munge.key" ] || { dd if=/dev/urandom of="$dir/munge/munge.key" bs=1 count=1024 2>/dev/null; chmod 400 "$dir/munge/munge.key"; }
munged -S "$dir/msock/munge.socket.2" --key-file="$dir/munge/munge.key" \
  --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"
host=$(hostname -s)
cat >"$dir/slurm.conf" <<EOF
ClusterName=vpipe
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
AuthInfo=socket=$dir/msock/munge.socket.2,cred_expire=10
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=sched_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MinJobAge=600
SlurmdParameters=config_overrides
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$dir/slurm.conf
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 200); do
  sinfo -h -o %t 2>/dev/null | grep -qx idle && { echo "export SLURM_CONF=$SLURM_CONF"; exit 0; }
  sleep 0.1
done
echo "slurm-cluster: the node did not come up in 20 s (logs in $dir/log)" >&2
stop
exit 1
