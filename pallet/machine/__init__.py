"""`pallet machine`: provision a host with pallet and reach it as a context (docker-machine's
model). drivers/ make or reach a host over ssh; provision.py installs pallet there; the rest keeps
the local record (store.py), certificates (certs.py) and the ssh client (ssh.py)."""
