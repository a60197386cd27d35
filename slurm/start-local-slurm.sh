#!/usr/bin/env bash
# Copied from the project's shared tools (/work/shared/tools/start-local-slurm.sh, tested on these
# machines); kept here so that CI and users of this repository can start the same cluster.
# start-local-slurm.sh - install and start a one-node SLURM cluster on loopback
# (munged + slurmctld + slurmd, node "localhost", partition "debug").
#
#   bash start-local-slurm.sh [start|stop|status]     (default: start; needs root)
#
# Idempotent: packages are installed only if missing, slurm.conf is rewritten
# only if it changed, and daemons that already answer are left running.
# Tested on Debian 12 (bookworm, slurm-wlm 22.05.8, munge 0.5.15) in a container,
# no systemd, no cgroups. All traffic is to 127.0.0.1 (ports 6817/6818).
#
# Environment knobs (all optional):
#   SLURM_LOCAL_DIR   state/log/pid dir               (default /tmp/slurm-local)
#   SLURM_CPUS        CPUs of the node                (default $(nproc))
#   SLURM_MEM_MB      RealMemory of the node in MB    (default 90% of MemTotal)
#   SLURMCTLD_PORT / SLURMD_PORT                      (default 6817 / 6818)
#   SLURM_WAIT_S      seconds to wait for the node to become idle (default 60)
#   SLURM_ACCOUNTING  1 = also install MariaDB + slurmdbd so that `sacct` works
#                     (default 0; submitit works without it, but warns that sacct fails)
set -euo pipefail

ACTION=${1:-start}
DIR=${SLURM_LOCAL_DIR:-/tmp/slurm-local}
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
NODE=localhost
CPUS=${SLURM_CPUS:-$(nproc)}
MEM_MB=${SLURM_MEM_MB:-$(awk '/MemTotal/ {printf "%d", $2/1024*0.9}' /proc/meminfo)}
CTLD_PORT=${SLURMCTLD_PORT:-6817}
SLURMD_PORT=${SLURMD_PORT:-6818}
WAIT_S=${SLURM_WAIT_S:-60}
ACCOUNTING=${SLURM_ACCOUNTING:-0}
DBD_PORT=${SLURMDBD_PORT:-6819}

log() { echo "[local-slurm] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null && exec sudo -E bash "$0" "$@"
  die "must run as root"
fi

pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pidfile() {  # stop_pidfile NAME PIDFILE
  local name=$1 pf=$2 pid i
  if pid_alive "$pf"; then
    pid=$(cat "$pf"); log "stopping $name (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && { log "$name still alive, SIGKILL"; kill -9 "$pid" 2>/dev/null || true; }
  fi
  rm -f "$pf"
}

do_stop() {
  stop_pidfile slurmd     "$DIR/slurmd.pid"
  stop_pidfile slurmctld  "$DIR/slurmctld.pid"
  stop_pidfile slurmdbd   "$DIR/slurmdbd.pid"
  stop_pidfile mariadbd   "$DIR/mysql/mariadb.pid"
  stop_pidfile munged     /run/munge/munged.pid
}

do_status() {
  for p in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/slurmdbd.pid" "$DIR/mysql/mariadb.pid" /run/munge/munged.pid; do
    if pid_alive "$p"; then echo "$(basename "$p" .pid): running pid $(cat "$p")"; else echo "$(basename "$p" .pid): not running"; fi
  done
  command -v sinfo >/dev/null && { scontrol ping || true; sinfo || true; }
}

case "$ACTION" in
  stop)   do_stop; exit 0 ;;
  status) do_status; exit 0 ;;
  start)  ;;
  *) die "usage: $0 [start|stop|status]" ;;
esac

t_start=$(date +%s)

# ---------------------------------------------------------------- 1. packages
pkgs=()
command -v slurmctld >/dev/null || pkgs+=(slurmctld)
command -v slurmd    >/dev/null || pkgs+=(slurmd)
command -v sbatch    >/dev/null || pkgs+=(slurm-client)
command -v munged    >/dev/null || pkgs+=(munge)
if [ "$ACCOUNTING" = 1 ]; then
  command -v slurmdbd >/dev/null || pkgs+=(slurmdbd)
  command -v mariadbd >/dev/null || command -v mysqld >/dev/null || pkgs+=(mariadb-server)
fi
if [ ${#pkgs[@]} -gt 0 ]; then
  log "installing ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  # policy-rc.d on this image already stops postinst from starting services
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
fi

# ---------------------------------------------------------------- 2. munge
install -d -m 0700 -o munge -g munge /etc/munge /var/lib/munge /var/log/munge
install -d -m 0755 -o munge -g munge /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating munge key"
  if command -v mungekey >/dev/null; then runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
  else dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none; fi
fi
chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  rm -f /run/munge/munged.pid
  log "starting munged"
  # munged daemonizes itself and writes /run/munge/munged.pid
  runuser -u munge -- /usr/sbin/munged --force
  for i in $(seq 1 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
  munge -n | unmunge >/dev/null || die "munge does not work (see /var/log/munge/munged.log)"
fi

# ---------------------------------------------------------------- 3. slurm.conf
mkdir -p "$DIR/ctld" "$DIR/d" "$DIR/log" "$CONF_DIR"
newconf=$(mktemp)
cat > "$newconf" <<EOF
# generated by start-local-slurm.sh - one node on loopback
ClusterName=localcluster
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
MinJobAge=300
KillWait=5
Waittime=0
MaxArraySize=10001
EOF
if [ "$ACCOUNTING" = 1 ]; then
  cat >> "$newconf" <<EOF
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
JobCompType=jobcomp/none
EOF
else
  cat >> "$newconf" <<EOF
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
EOF
fi
cat >> "$newconf" <<EOF
NodeName=$NODE NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
if ! cmp -s "$newconf" "$CONF"; then log "writing $CONF"; install -m 0644 "$newconf" "$CONF"; fi
rm -f "$newconf"
# restart running daemons if they were started with another slurm.conf
conf_changed=0; cmp -s "$CONF" "$DIR/slurm.conf.started" || conf_changed=1

# ------------------------------------------------- 3b. optional accounting (slurmdbd + MariaDB)
if [ "$ACCOUNTING" = 1 ]; then
  # MariaDB on its default unix socket only (--skip-networking: no TCP listener at all);
  # slurmdbd's StorageHost=localhost makes libmariadb use that socket.
  MYSQL_SOCK=/run/mysqld/mysqld.sock
  if ! pid_alive "$DIR/mysql/mariadb.pid"; then
    install -d -o mysql -g mysql "$DIR/mysql" /run/mysqld
    if [ ! -d "$DIR/mysql/data/mysql" ]; then
      log "initialising MariaDB in $DIR/mysql/data"
      mariadb-install-db --user=mysql --datadir="$DIR/mysql/data" --auth-root-authentication-method=socket >/dev/null 2>&1
    fi
    log "starting mariadbd (unix socket only)"
    # pid/log files must be writable by the mysql user
    (mariadbd --user=mysql --datadir="$DIR/mysql/data" --socket="$MYSQL_SOCK" --skip-networking \
       --pid-file="$DIR/mysql/mariadb.pid" --log-error="$DIR/mysql/mariadb.log" </dev/null >/dev/null 2>&1 &)
    for i in $(seq 1 100); do mariadb --socket="$MYSQL_SOCK" -e 'select 1' >/dev/null 2>&1 && break; sleep 0.3; done
    mariadb --socket="$MYSQL_SOCK" -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
      CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurmlocal';
      GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" || die "MariaDB setup failed (see $DIR/mysql/mariadb.log)"
  fi
  cat > "$CONF_DIR/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageLoc=slurm_acct_db
StorageUser=slurm
StoragePass=slurmlocal
EOF
  chmod 0600 "$CONF_DIR/slurmdbd.conf"
  if ! pid_alive "$DIR/slurmdbd.pid"; then
    log "starting slurmdbd"; slurmdbd
    for i in $(seq 1 50); do sacctmgr -n show cluster >/dev/null 2>&1 && break; sleep 0.3; done
  fi
fi

# ---------------------------------------------------------------- 4. slurmctld
if [ "$conf_changed" = 1 ] && pid_alive "$DIR/slurmctld.pid"; then
  log "config changed: restarting slurmd/slurmctld"
  stop_pidfile slurmd "$DIR/slurmd.pid"; stop_pidfile slurmctld "$DIR/slurmctld.pid"
fi
if ! pid_alive "$DIR/slurmctld.pid"; then
  log "starting slurmctld"
  slurmctld -i            # daemonizes, writes SlurmctldPidFile
  cp "$CONF" "$DIR/slurm.conf.started"
fi
for i in $(seq 1 50); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.2; done
scontrol ping | grep -q 'is UP' || die "slurmctld not answering (see $DIR/log/slurmctld.log)"
if [ "$ACCOUNTING" = 1 ]; then
  sacctmgr -i add cluster localcluster >/dev/null 2>&1 || true
fi

# ---------------------------------------------------------------- 5. slurmd
if ! pid_alive "$DIR/slurmd.pid"; then
  log "starting slurmd"
  slurmd -N "$NODE"       # daemonizes, writes SlurmdPidFile
fi

# ---------------------------------------------------------------- 6. wait for idle node
state=""
for i in $(seq 1 $((WAIT_S * 2))); do
  state=$(sinfo -h -n "$NODE" -o %t 2>/dev/null || true)
  case "$state" in
    idle|mix|alloc) break ;;
    down*|drain*|drng*|inval*) scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;;
  esac
  sleep 0.5
done
case "$state" in idle|mix|alloc) ;; *) sinfo -R >&2 || true; die "node state '$state' (see $DIR/log/slurmd.log)";; esac

log "ready in $(( $(date +%s) - t_start ))s: node $NODE state=$state, CPUs=$CPUS, RealMemory=${MEM_MB}MB, logs in $DIR/log"
log "stop with: bash $0 stop"
