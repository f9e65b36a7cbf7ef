#!/bin/sh
# The main job on the embedded default: builds the project, walks a
# Hyper-V-style checkpoint chain through virt-vhdx (checked by 7-Zip and
# qemu-img along the way), then drives hypervsim's sample VMs with virsh
# through virthypervd: lifecycle, then snapshots taken, listed, reverted
# and deleted.
set -eu
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/build.sh build

V=build/tools/virt-vhdx
work=$(mktemp -d /tmp/virthypervd-demo-XXXXXX)
base=$work/web1.vhdx
avhdx=$work/web1_$(cat /proc/sys/kernel/random/uuid | tr a-z A-Z).avhdx
show() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
guest() { $V cat "$1" | dd bs=1M skip=1 count=1 iflag=fullblock status=none | tr -d '\0'; }

show "A 64 MiB dynamic disk, as Hyper-V creates one"
$V create "$base" --size 64M
printf 'guest data, day 1\n' | $V write "$base" --offset 1M
$V info "$base" | sed -n '1,4p;12,16p'

show "Checkpoint: the disk is frozen, the VM writes to a differencing AVHDX"
$V create "$avhdx" --parent "$base"
printf 'guest data, day 2 (after the checkpoint)\n' |
    $V write "$avhdx" --offset 1M
$V chain "$avhdx"
printf 'through the chain: %s\n' "$(guest "$avhdx")"
printf 'the frozen parent:  %s\n' "$(guest "$base")"

show "Readers nobody here wrote agree (7-Zip reads the whole chain)"
7zz t -tvhdx "$avhdx" | grep -E 'Everything is Ok|ERROR'
ours=$($V cat "$avhdx" | sha256sum | cut -c1-16)
theirs=$(cd "$work" && 7zz e -tvhdx -so "$avhdx" 2>/dev/null | sha256sum | cut -c1-16)
echo "sha256 virt-vhdx $ours, 7-Zip $theirs"
[ "$ours" = "$theirs" ]

show "Delete the checkpoint: the AVHDX is merged into its parent"
$V merge "$avhdx"
ls "$work"
$V check "$base"
qemu-img check -f vhdx "$base"
printf 'the disk now holds: %s\n' "$(guest "$base")"

show "virsh on a Hyper-V host: hypervsim with sample VMs, virthypervd"
echo "(WinRM as Windows ships it: NTLM, every message sealed, no Basic over HTTP)"
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
build/sim/hypervsim --state-dir "$work/host" --listen "127.0.0.1:$port" \
    --sample --user Administrator --password secret --require-sealing \
    >"$work/sim.log" 2>&1 &
sim=$!
printf '[credentials-demo]\nusername = Administrator\npassword = secret\n[auth-hyperv-127.0.0.1]\ncredentials = demo\n' >"$work/auth.conf"
sleep 1
build/src/virthypervd --socket "$work/hvd.sock" --auth-file "$work/auth.conf" \
    --state-dir "$work/state" --host "http://127.0.0.1:$port/wsman" \
    >"$work/hvd.log" 2>&1 &
hvd=$!
trap 'kill $hvd $sim 2>/dev/null; wait; rm -rf "$work"' EXIT
for _ in $(seq 50); do [ -S "$work/hvd.sock-ro" ] && break; sleep 0.1; done
export LIBVIRT_DEFAULT_URI="hyperv+unix:///system?socket=$work/hvd.sock"
echo "LIBVIRT_DEFAULT_URI=$LIBVIRT_DEFAULT_URI"
set -x
virsh list --all
virsh dominfo web1
virsh dumpxml web1 | sed -n '1,20p'
virsh start db1
virsh suspend db1
virsh domstate db1 --reason
virsh resume db1
virsh destroy db1
virsh -r start mail1 || true
virsh nodeinfo
set +x

show "Snapshots: take, list, revert, delete, with the guest's bytes read back"
ctl() { build/sim/hypervsim-ctl --url "http://127.0.0.1:$port" --user Administrator --password secret "$@"; }
guest_web1() { ctl read vm=web1 offset=3145728 length=20; }
set -x
ctl write vm=web1 offset=3145728 'text=before the upgrade'
virsh snapshot-create-as web1 before-upgrade --description "a known good state"
ctl write vm=web1 offset=3145728 'text=after the upgrade!!'
virsh snapshot-create-as web1 after-upgrade
virsh snapshot-list web1 --parent
virsh snapshot-info web1 before-upgrade
virsh snapshot-dumpxml web1 after-upgrade | sed -n '1,12p'
virsh snapshot-revert web1 before-upgrade || true
virsh snapshot-revert web1 before-upgrade --running --force
guest_web1
virsh snapshot-create-as web1 hotfix
virsh snapshot-list web1 --tree
virsh snapshot-delete web1 after-upgrade
virsh snapshot-delete web1 before-upgrade --children
virsh snapshot-list web1
guest_web1
set +x

show "Checkpoints and backups: RCT reference points, a full and an incremental export read back by qemu-img"
bk="$work/backups"
win() { printf 'C:%s' "$1" | tr / '\\'; }
backup_xml() { # FOLDER [CHECKPOINT]
    inc=""
    [ -n "${2:-}" ] && inc="<incremental>$2</incremental>"
    d=$(win "$1")
    printf "<domainbackup>%s<disks><disk name='sda' type='file'><target file='%s\\Virtual Hard Disks\\web1.vhdx'/></disk><disk name='sdb' type='file'><target file='%s\\Virtual Hard Disks\\web1_1.vhdx'/></disk></disks></domainbackup>" "$inc" "$d" "$d"
}
wait_backup() {
    { set +x; } 2>/dev/null
    while virsh domjobinfo web1 | grep -q Unbounded; do sleep 0.2; done
    set -x
    virsh domjobinfo web1 --completed
}
backup_xml "$bk/full" >"$work/full.xml"
backup_xml "$bk/inc" full >"$work/inc.xml"
printf '<domaincheckpoint><name>full</name></domaincheckpoint>' >"$work/cp-full.xml"
printf '<domaincheckpoint><name>inc</name></domaincheckpoint>' >"$work/cp-inc.xml"
set -x
virsh backup-begin web1 --backupxml "$work/full.xml" --checkpointxml "$work/cp-full.xml"
wait_backup
ctl write vm=web1 offset=3145728 'text=written after full'
virsh checkpoint-dumpxml web1 full --size --no-domain
virsh backup-begin web1 --backupxml "$work/inc.xml" --checkpointxml "$work/cp-inc.xml"
wait_backup
virsh checkpoint-list web1 --parent
qemu-img info "$bk/full/Virtual Hard Disks/web1.vhdx" | sed -n '1,3p'
qemu-img convert -O raw "$bk/inc/Virtual Hard Disks/web1.vhdx" "$work/inc.raw"
dd if="$work/inc.raw" bs=1 skip=3145728 count=18 2>/dev/null; echo
set +x

show "VM groups: one checkpoint of web1, db1 and mail1 together"
hvd_cmd() { build/src/virthypervd --auth-file "$work/auth.conf" --state-dir "$work/state" --host "http://127.0.0.1:$port/wsman" "$@"; }
printf "<domaincheckpoint><name>nightly</name><domain type='hyperv'><name>web1</name><metadata><vg:group xmlns:vg='urn:virthypervd:group:1' name='web'/></metadata></domain></domaincheckpoint>" >"$work/group.xml"
set -x
hvd_cmd --group-define web
for vm in web1 db1 mail1; do hvd_cmd --group-add web --member $vm; done
hvd_cmd --group-list
virsh checkpoint-create web1 "$work/group.xml"
for vm in web1 db1 mail1; do virsh checkpoint-list $vm --name; done
virsh checkpoint-dumpxml db1 nightly | grep 'vg:group'
set +x
show "A group export: every member since the group checkpoint, read back by qemu-img"
gx="$work/group-export"
printf "<domainbackup><incremental>nightly</incremental><disks><disk name='sda' type='file'><target file='%s\\\\db1\\\\Virtual Hard Disks\\\\db1.vhdx'/></disk></disks></domainbackup>" "$(win "$gx")" >"$work/group-backup.xml"
printf "<domaincheckpoint><name>nightly2</name><domain type='hyperv'><name>db1</name><metadata><vg:group xmlns:vg='urn:virthypervd:group:1' name='web'/></metadata></domain></domaincheckpoint>" >"$work/group2.xml"
set -x
ctl write vm=mail1 offset=1048576 'text=mail1 after nightly'
virsh backup-begin db1 --backupxml "$work/group-backup.xml" --checkpointxml "$work/group2.xml"
{ set +x; } 2>/dev/null
while virsh domjobinfo db1 | grep -q Unbounded; do sleep 0.2; done
set -x
virsh domjobinfo mail1 --completed
ls "$gx"
qemu-img convert -O raw "$gx/mail1/Virtual Hard Disks/mail1.vhdx" "$work/mail1.raw"
dd if="$work/mail1.raw" bs=1 skip=1048576 count=19 2>/dev/null; echo
virsh checkpoint-list mail1 --parent
set +x

show "Done"
