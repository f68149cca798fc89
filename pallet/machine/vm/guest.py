"""The files pallet adds to a debootstrapped Debian root so it boots as a headless VM.

Each entry is (path inside the root, mode, text). They are part of the image recipe: changing
one changes the recipe's key, so the cached image is rebuilt.

The guest learns its ssh key and host name from the kernel command line (pallet.key=<base64 of
authorized_keys>, pallet.hostname=NAME) through pallet-seed.service, which runs before sshd: the
image itself holds no key and no host key, so one cached image serves every machine and each
boot gets its own host key. No 9p/fw_cfg module is needed (Debian's cloud kernel has neither
built in).
"""

from __future__ import annotations

SEED_SCRIPT = r"""#!/bin/sh
# pallet-seed: the ssh key, host name and disk size given on the kernel command line.
set -eu
key=
for word in $(cat /proc/cmdline); do
  case "$word" in
    pallet.key=*) key=${word#pallet.key=} ;;
    pallet.hostname=*) name=${word#pallet.hostname=}
                       echo "$name" > /etc/hostname; hostname "$name" ;;
    pallet.grow=1) resize2fs /dev/vda >/dev/null 2>&1 || true ;;
  esac
done
install -d -m 0700 /root/.ssh
if [ -n "$key" ]; then
  echo "$key" | base64 -d > /root/.ssh/authorized_keys
  chmod 0600 /root/.ssh/authorized_keys
fi
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
"""

SEED_UNIT = """[Unit]
Description=pallet: ssh key and host name from the kernel command line
DefaultDependencies=no
After=local-fs.target
Before=ssh.service network-pre.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/pallet-seed
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
"""

# qemu's user-mode network: the guest is always 10.0.2.15 behind 10.0.2.2. A static address
# saves the DHCP round at every boot (seconds under TCG).
NETWORK = """[Match]
Name=eth0

[Network]
Address=10.0.2.15/24
Gateway=10.0.2.2
DNS=10.0.2.3
LinkLocalAddressing=no
IPv6AcceptRA=no
"""

# PAM stays on (Debian's default): with libpam-systemd each login is a logind session scope,
# as a root shell on a real distribution is, which is where pallet's cgroups must work.
SSHD = """# pallet: key-only root logins, one ed25519 host key made at first boot
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
"""

FILES: tuple[tuple[str, int, str], ...] = (
    ("usr/local/sbin/pallet-seed", 0o755, SEED_SCRIPT),
    ("etc/systemd/system/pallet-seed.service", 0o644, SEED_UNIT),
    ("etc/systemd/network/10-eth0.network", 0o644, NETWORK),
    ("etc/ssh/sshd_config.d/pallet.conf", 0o644, SSHD),
    ("etc/hostname", 0o644, "pallet-vm\n"),
    ("etc/hosts", 0o644, "127.0.0.1\tlocalhost\n127.0.1.1\tpallet-vm\n"),
    ("etc/fstab", 0o644, "# the root is mounted by the kernel (root=/dev/vda rw)\n"),
    ("etc/resolv.conf", 0o644, "nameserver 10.0.2.3\n"),
)

# (unit, target it is wanted by): enabled by symlink, as `systemctl enable` would.
ENABLE = (
    ("pallet-seed.service", "multi-user.target"),
    ("systemd-networkd.service", "multi-user.target"),
)

# Not started at boot (their .wants links removed, as `systemctl disable`): docker.io's engine,
# which the side-by-side checks start themselves, so a boot does not pay for it under TCG.
DISABLE = ("docker.service", "docker.socket", "containerd.service")

# Masked (linked to /dev/null): timers and services a throwaway VM does not want.
MASK = (
    "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer",
    "e2scrub_reap.service", "systemd-networkd-wait-online.service",
    "getty@tty1.service", "systemd-timesyncd.service",
)
