#!/bin/sh
# Installs the Debian bookworm packages the project builds, tests and
# demonstrates with. With --update (CI), always refreshes the package lists.
set -eu

PACKAGES="
    meson ninja-build pkg-config gcc clang clang-format libclang-rt-14-dev
    libglib2.0-dev libjson-glib-dev libisal-dev libxml2-dev
    libcurl4-openssl-dev libsoup-3.0-dev libtirpc-dev rpcsvc-proto glib-networking openssl
    libsystemd-dev libvirt-dev libvirt-clients python3-libvirt libvirt-daemon libxml2-utils
    virt-manager xvfb xauth
    libsys-virt-perl ruby-libvirt golang-go
    golang-github-libvirt-libvirt-go-dev golang-github-digitalocean-go-libvirt-dev
    gettext locales bzip2 python3
    qemu-utils libvhdi-utils python3-libvhdi 7zip python3-winrm
    libkrb5-dev gss-ntlmssp gss-ntlmssp-dev krb5-kdc krb5-admin-server krb5-user
    python3-gssapi
"

missing=$(dpkg-query -W -f='${Package} ${Status}\n' $PACKAGES 2>/dev/null |
          awk '$NF != "installed" { print $1 }')
for p in $PACKAGES; do
    dpkg-query -W "$p" >/dev/null 2>&1 || missing="$missing $p"
done

if [ "${1:-}" = "--update" ] || [ -n "$(echo $missing)" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null
fi

# the French translation is tested in a French locale
if ! locale -a 2>/dev/null | grep -qi '^fr_FR.utf-\?8$'; then
    sed -i 's/^# *\(fr_FR.UTF-8 UTF-8\)/\1/' /etc/locale.gen
    grep -q '^fr_FR.UTF-8 UTF-8' /etc/locale.gen ||
        echo 'fr_FR.UTF-8 UTF-8' >> /etc/locale.gen
    locale-gen >/dev/null
fi
