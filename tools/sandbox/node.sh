# shellcheck shell=bash
# One real node for the sandbox (scripts/sandbox node up|down|status|smoke|load; docs/sandbox.md,
# "The real node"): a kubelet of the pinned Kubernetes version with Debian's containerd and runc,
# so pods on it really run. Sourced by scripts/sandbox, which sets repo, state, cache, bin and the
# helpers of scripts/lib/daemon.sh.
#
# What it never does to the machine it runs on:
#   - rewrite host sysctls: the kubelet runs with protectKernelDefaults (it checks, never writes)
#     in a mount namespace of its own, where the few /proc/sys files it checks show the values it
#     wants; the host's files stay as they are;
#   - let pod traffic out: pods sit on a bridge of their own whose host address is set before the
#     first pod starts, get no default route (only the bridge's /24, on link, and the `kubernetes`
#     Service's address by the bridge's host address, which the host answers itself: see
#     node_service_route_make), and the host does not forward what arrives on the bridge (its
#     conf/forwarding is 0);
#   - pull images: a registry mirror for every host points at a closed local port, so an image
#     that is not imported fails at once, on this machine;
#   - leave anything behind: `node down` kills the containers, the runtime and the kubelet (by pid
#     file and by this node's own socket only), unmounts everything under the node's dirs, removes
#     its cgroups, network namespaces and the bridge.

node_name=kfcheck-node
node_taint_key=kfcheck.dev/real-node
node_label=kfcheck.dev/node=real

# node_vars: names and paths of this sandbox's node (from the state dir, so two sandboxes on one
# machine get different ones).
node_vars() {
  local h
  h="$(printf '%s' "$state" | sha256sum | cut -c1-8)"
  node_dir="$state/node"
  # Sockets and runtime state: short paths (sun_path is 108 bytes).
  node_run="/run/kfcheck-node-$h"
  node_bridge="kfck$h"
  node_cgroup="kfcheck-node-$h"
  local octet=$((16#${h:0:2} % 200 + 20))
  node_subnet="10.201.$octet.0/24"
  node_ip="10.201.$octet.1"
  node_sock="$node_run/containerd.sock"
}

node_ctr() { ctr --address "$node_sock" --namespace k8s.io "$@"; }
node_kubectl() { "$bin/kubectl" --kubeconfig "$state/kubeconfig" "$@"; }

# The cgroup v1 hierarchies (or the one v2 mount) the node's cgroup root is made in.
node_cgroup_dirs() {
  if [[ "$(stat -fc %T /sys/fs/cgroup)" == cgroup2fs ]]; then
    echo /sys/fs/cgroup
    return 0
  fi
  # Hybrid machines also have the v2 hierarchy at unified/, where runc makes cgroups too.
  local d
  for d in /sys/fs/cgroup/*/; do
    d="${d%/}"
    case "$(stat -fc %T "$d" 2>/dev/null)" in cgroupfs | cgroup2fs) echo "$d" ;; esac
  done
}

node_prereqs() {
  [[ "$(id -u)" == 0 ]] || die "the real node needs root (a kubelet, containerd, mounts, cgroups, a bridge)"
  [[ -f "$state/kubeconfig" ]] || die "the sandbox is not up (scripts/sandbox up first)"
  local pkgs=()
  command -v containerd >/dev/null || pkgs+=(containerd)
  command -v runc >/dev/null || pkgs+=(runc)
  [[ -x /usr/lib/cni/bridge && -x /usr/lib/cni/host-local && -x /usr/lib/cni/loopback ]] \
    || pkgs+=(containernetworking-plugins)
  command -v unshare >/dev/null || pkgs+=(util-linux)
  command -v ip >/dev/null || pkgs+=(iproute2)
  # The traffic counter and the Service route (node_traffic_make, node_service_route_make);
  # Docker's engine package brings it on most machines.
  command -v iptables >/dev/null || pkgs+=(iptables)
  if ((${#pkgs[@]})); then
    log "installing Debian's ${pkgs[*]}"
    apt-cache show "${pkgs[0]}" >/dev/null 2>&1 || apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2 \
      || die "apt-get install ${pkgs[*]} failed"
  fi
  local d probe
  for d in $(node_cgroup_dirs); do
    probe="$d/kfcheck-node-probe-$$"
    mkdir "$probe" 2>/dev/null || die "cannot create a cgroup in $d (a writable cgroup hierarchy is needed)"
    rmdir "$probe"
  done
  [[ -n "$(node_cgroup_dirs)" ]] || die "no cgroup hierarchy under /sys/fs/cgroup"
  ip link add kfcheck-probe0 type bridge 2>/dev/null || die "cannot create a network bridge here"
  ip link del kfcheck-probe0
  if ip route show | grep -q "^${node_subnet} "; then
    die "$node_subnet is already routed on this machine; the node's pod network would clash"
  fi
}

# node_cgroups_make: the kubelet's cgroup root, in every hierarchy; cpuset needs its cpus and mems
# before anything can join it.
node_cgroups_make() {
  local d
  for d in $(node_cgroup_dirs); do
    mkdir -p "$d/$node_cgroup"
    if [[ -f "$d/cpuset.cpus" ]]; then
      cat "$d/cpuset.cpus" > "$d/$node_cgroup/cpuset.cpus"
      cat "$d/cpuset.mems" > "$d/$node_cgroup/cpuset.mems"
    fi
  done
}

# node_cgroups_remove: the cgroup root and everything below it, deepest first (the processes are
# gone by then; a cgroup that still has one is named).
node_cgroups_remove() {
  local d c left=0
  for d in $(node_cgroup_dirs); do
    [[ -d "$d/$node_cgroup" ]] || continue
    while read -r c; do
      rmdir "$c" 2>/dev/null || { log "could not remove cgroup $c"; left=1; }
    done < <(find "$d/$node_cgroup" -depth -type d)
  done
  return $left
}

node_network_make() {
  if ! ip link show "$node_bridge" >/dev/null 2>&1; then
    ip link add "$node_bridge" type bridge
  fi
  # The host address first: the kubelet's probes to a pod IP then go onto the bridge, never by
  # the default route.
  ip addr replace "$node_ip/24" dev "$node_bridge"
  ip link set "$node_bridge" up
  # Nothing that arrives on the bridge is forwarded anywhere.
  echo 0 > "/proc/sys/net/ipv4/conf/$node_bridge/forwarding"
  mkdir -p "$node_dir/cni"
  cat > "$node_dir/cni/10-kfcheck.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "kfcheck-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$node_bridge",
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$node_dir/cni-ipam",
        "ranges": [[{"subnet": "$node_subnet", "rangeStart": "${node_ip%.1}.10", "gateway": "$node_ip"}]],
        "routes": [{"dst": "$node_apiserver_vip/32", "gw": "$node_ip"}]
      }
    }
  ]
}
EOF
}

# node_service_route_make: the `kubernetes` Service (the first address of the sandbox's service
# range, 10.0.0.1:443, the address kubelet gives pods as KUBERNETES_SERVICE_HOST/PORT) reaches the
# apiserver, which listens on 127.0.0.1 only, so kfcheck in a pod (the CronJob of deploy/, an
# in-cluster run) talks to the API as in a real cluster, with the apiserver certificate's
# 10.0.0.1 name. What kube-proxy does for this one Service, and only for packets that arrive on
# this node's bridge: a DNAT in a nat chain of our own to the apiserver's 127.0.0.1 port (which
# route_localnet on this bridge only, never a host-wide sysctl, lets through). Nothing is
# forwarded: the packet ends on this machine.
node_apiserver_vip=10.0.0.1
node_service_route_make() {
  local chain="KFCHECK-SVC-${node_cgroup#kfcheck-node-}"
  echo 1 > "/proc/sys/net/ipv4/conf/$node_bridge/route_localnet"
  iptables -w 5 -t nat -N "$chain" 2>/dev/null || iptables -w 5 -t nat -F "$chain"
  iptables -w 5 -t nat -A "$chain" -i "$node_bridge" -d "$node_apiserver_vip/32" -p tcp --dport 443 \
    -j DNAT --to-destination "127.0.0.1:$apiserver_port"
  iptables -w 5 -t nat -C PREROUTING -j "$chain" 2>/dev/null \
    || iptables -w 5 -t nat -I PREROUTING -j "$chain"
}

node_service_route_remove() {
  command -v iptables >/dev/null || return 0
  local chain="KFCHECK-SVC-${node_cgroup#kfcheck-node-}"
  iptables -w 5 -t nat -L "$chain" -n >/dev/null 2>&1 || return 0
  while iptables -w 5 -t nat -D PREROUTING -j "$chain" 2>/dev/null; do :; done
  iptables -w 5 -t nat -F "$chain" && iptables -w 5 -t nat -X "$chain"
}

# The machine's outward interfaces: those of its default routes.
node_outward_ifaces() { ip -o route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") print $(i + 1) }' | sort -u; }

# node_traffic_make: a chain of our own counting every packet that leaves by an outward
# interface with the pod network as its source or destination; hooked into OUTPUT and FORWARD.
# `node traffic` prints the count; any packet is a bug (the network must not have a way out).
node_traffic_make() {
  command -v iptables >/dev/null || return 0
  local chain="KFCHECK-${node_cgroup#kfcheck-node-}" dev
  iptables -w 5 -N "$chain" 2>/dev/null || iptables -w 5 -F "$chain"
  for dev in $(node_outward_ifaces); do
    iptables -w 5 -A "$chain" -o "$dev" -s "$node_subnet" -j RETURN
    iptables -w 5 -A "$chain" -o "$dev" -d "$node_subnet" -j RETURN
  done
  iptables -w 5 -C OUTPUT -j "$chain" 2>/dev/null || iptables -w 5 -I OUTPUT -j "$chain"
  iptables -w 5 -C FORWARD -j "$chain" 2>/dev/null || iptables -w 5 -I FORWARD -j "$chain"
}

node_traffic_remove() {
  command -v iptables >/dev/null || return 0
  local chain="KFCHECK-${node_cgroup#kfcheck-node-}"
  iptables -w 5 -L "$chain" -n >/dev/null 2>&1 || return 0
  while iptables -w 5 -D OUTPUT -j "$chain" 2>/dev/null; do :; done
  while iptables -w 5 -D FORWARD -j "$chain" 2>/dev/null; do :; done
  iptables -w 5 -F "$chain" && iptables -w 5 -X "$chain"
}

# node_traffic: the packets counted so far (fails when the counting chain is missing).
node_traffic() {
  node_vars
  local chain="KFCHECK-${node_cgroup#kfcheck-node-}"
  local listing
  listing="$(iptables -w 5 -L "$chain" -n -v -x 2>/dev/null)" \
    || die "no traffic counter (iptables chain $chain): is the node up?"
  awk 'NR > 2 { n += $1 } END { print n + 0 }' <<<"$listing"
}

node_containerd_config() {
  mkdir -p "$node_dir/containerd" "$node_run" "$node_dir/hosts/_default"
  # Every registry is this closed local port: a pull fails at once, here.
  cat > "$node_dir/hosts/_default/hosts.toml" <<'EOF'
server = "http://127.0.0.1:9"
[host."http://127.0.0.1:9"]
  capabilities = ["pull", "resolve"]
EOF
  cat > "$node_dir/containerd.toml" <<EOF
version = 2
root = "$node_dir/containerd"
state = "$node_run/containerd"
oom_score = 0
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "$node_sock"
[ttrpc]
  address = "$node_run/containerd.ttrpc.sock"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$(node_image_ref pause)"
  restrict_oom_score_adj = true
  disable_apparmor = true
  disable_hugetlb_controller = true
  tolerate_missing_hugetlb_controller = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$node_dir/cni"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$node_dir/hosts"
EOF
}

node_image_ref() { "$repo/scripts/node-image" ref "$1"; }

# node_certs: the kubelet's client certificate (system:node:NAME in system:nodes, so the Node
# authorizer and NodeRestriction treat it as a real node) and its serving certificate.
node_certs() {
  local p="$state/pki" d="$node_dir/pki"
  mkdir -p "$d"
  (
    umask 077
    cd "$d"
    local ext
    ext="$(mktemp)"
    openssl req -new -newkey rsa:2048 -nodes -keyout kubelet-client.key -out c.csr \
      -subj "/O=system:nodes/CN=system:node:$node_name" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > "$ext"
    openssl x509 -req -in c.csr -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
      -out kubelet-client.crt -days 30 -extfile "$ext" 2>/dev/null
    openssl req -new -newkey rsa:2048 -nodes -keyout kubelet.key -out s.csr \
      -subj "/CN=$node_name" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:%s,IP:127.0.0.1,DNS:%s\n' "$node_ip" "$node_name" > "$ext"
    openssl x509 -req -in s.csr -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial \
      -out kubelet.crt -days 30 -extfile "$ext" 2>/dev/null
    rm -f c.csr s.csr "$ext"
  )
  cat > "$node_dir/kubelet.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: sandbox
  cluster: {server: "https://127.0.0.1:$apiserver_port", certificate-authority: "$p/ca.crt"}
users:
- name: kubelet
  user: {client-certificate: "$d/kubelet-client.crt", client-key: "$d/kubelet-client.key"}
contexts:
- name: sandbox
  context: {cluster: sandbox, user: kubelet}
current-context: sandbox
EOF
  chmod 600 "$node_dir/kubelet.kubeconfig"
}

node_kubelet_config() {
  cat > "$node_dir/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# Listens on loopback only; egress-proxy maps $node_ip:$kubelet_port here for the apiserver.
address: 127.0.0.1
port: $kubelet_port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $kubelet_healthz_port
tlsCertFile: $node_dir/pki/kubelet.crt
tlsPrivateKeyFile: $node_dir/pki/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $state/pki/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$node_sock
cgroupDriver: cgroupfs
cgroupRoot: /$node_cgroup
failCgroupV1: false
failSwapOn: false
# No CAP_SYS_RESOURCE on these machines.
oomScoreAdj: 0
# Check the kernel tunables, never write them (see the mount namespace in node_start_kubelet).
protectKernelDefaults: true
makeIPTablesUtilChains: false
registerNode: true
registerWithTaints:
- {key: $node_taint_key, value: "true", effect: NoSchedule}
podLogsDir: $node_dir/pod-logs
volumePluginDir: $node_dir/volume-plugins
resolvConf: ""
clusterDNS: []
maxPods: 30
serializeImagePulls: false
# A shared machine's disk may be nearly full: evict only when it really is, and never
# garbage-collect the imported images (nothing can pull them back).
evictionHard: {memory.available: 50Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
fileCheckFrequency: 20s
localStorageCapacityIsolation: true
enableDebuggingHandlers: true
EOF
}

# node_sysctl_values: the kernel tunables the kubelet checks under protectKernelDefaults, with
# the values it wants (k8s.io/kubernetes pkg/kubelet/cm, setupKernelTunables).
node_sysctl_values() {
  cat <<'EOF'
vm/overcommit_memory 1
vm/panic_on_oom 0
kernel/panic 10
kernel/panic_on_oops 1
kernel/keys/root_maxkeys 1000000
kernel/keys/root_maxbytes 25000000
EOF
}

# node_start_kubelet: the kubelet in a mount namespace of its own. There, each /proc/sys file it
# checks that differs from its value is covered by a file with that value (a bind mount in that
# namespace only, /proc made a slave first so nothing goes back to the host). The kubelet's root
# dir is a shared bind mount, so the volumes it mounts there (tokens, secrets, configmaps) are seen
# by containerd in the host's namespace.
node_start_kubelet() {
  local k="$node_dir/kubelet" f v covers=""
  mkdir -p "$k" "$node_dir/sysctl"
  if ! mountpoint -q "$k"; then
    mount --bind "$k" "$k"
  fi
  mount --make-private "$k"
  mount --make-shared "$k"
  while read -r f v; do
    [[ "$(cat "/proc/sys/$f" 2>/dev/null)" == "$v" ]] && continue
    printf '%s\n' "$v" > "$node_dir/sysctl/${f//\//.}"
    covers+="mount --bind '$node_dir/sysctl/${f//\//.}' '/proc/sys/$f' && "
  done < <(node_sysctl_values)
  cat > "$node_dir/kubelet-ns.sh" <<EOF
#!/bin/sh
# Runs in the kubelet's own mount namespace (tools/sandbox/node.sh, node_start_kubelet).
set -e
mount --make-rslave /proc
${covers}exec "$bin/kubelet" "\$@"
EOF
  chmod +x "$node_dir/kubelet-ns.sh"
  printf '%s\0' --config "$node_dir/kubelet.yaml" --kubeconfig "$node_dir/kubelet.kubeconfig" \
    --root-dir "$k" --hostname-override "$node_name" --node-ip "$node_ip" \
    --node-labels "$node_label" --v 1 > "$state/args/kubelet"
  local args=()
  mapfile -d '' -t args < "$state/args/kubelet"
  setsid unshare --mount --propagation unchanged -- "$node_dir/kubelet-ns.sh" "${args[@]}" \
    </dev/null >"$state/logs/kubelet.log" 2>&1 8>&- 9>&- &
  echo "$!" > "$state/pids/kubelet.pid"
}

node_up() {
  lock_state
  node_vars
  local t0=$SECONDS
  # shellcheck source=/dev/null
  source "$state/ports"
  if [[ -f "$node_dir/ports" ]] && pid_of kubelet >/dev/null && pid_of containerd >/dev/null && node_ready; then
    log "node $node_name already up"
    return 0
  fi
  node_prereqs
  node_down_locked quiet
  mkdir -p "$node_dir" "$state/pids" "$state/logs" "$state/args"
  kubelet_port="$(free_port)"; kubelet_healthz_port="$(free_port)"
  printf 'kubelet_port=%s\nkubelet_healthz_port=%s\nnode_ip=%s\n' "$kubelet_port" \
    "$kubelet_healthz_port" "$node_ip" > "$node_dir/ports"
  local pause busybox
  pause="$("$repo/scripts/node-image" pause)"
  busybox="$("$repo/scripts/node-image" busybox)"
  node_network_make
  node_traffic_make
  node_service_route_make
  node_cgroups_make
  node_containerd_config
  node_certs
  node_kubelet_config
  bin=/usr/bin launch containerd --config "$node_dir/containerd.toml"
  wait_until containerd 0.1 node_ctr version >/dev/null 2>&1 \
    || fail_component containerd "does not answer on $node_sock"
  node_load "$pause" "$busybox"
  # The apiserver reaches the kubelet as NODE-IP:PORT through egress-proxy (which only tunnels
  # what it is told to); the kubelet listens on 127.0.0.1.
  printf '%s:%s 127.0.0.1:%s\n' "$node_ip" "$kubelet_port" "$kubelet_port" > "$state/egress-map"
  node_start_kubelet
  wait_until kubelet 0.2 node_ready || fail_component kubelet "did not make node $node_name Ready"
  log "node $node_name up in $((SECONDS - t0))s (pods on $node_subnet, bridge $node_bridge)"
}

node_ready() {
  [[ "$(node_kubectl get node "$node_name" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" == True ]]
}

# node_load TARBALL...: imports docker-archive tarballs (scripts/node-image) into the node.
node_load() {
  local t
  for t in "$@"; do
    [[ -f "$t" ]] || die "no image tarball $t"
    node_ctr images import --no-unpack=false "$t" >/dev/null || die "ctr images import $t failed"
  done
}

node_down() {
  lock_state
  node_down_locked
}

# node_down_locked [quiet]: everything the node made, by its own pid files, socket, dirs and names.
node_down_locked() {
  node_vars
  [[ -d "$node_dir" || -d "$node_run" ]] || ip link show "$node_bridge" >/dev/null 2>&1 || {
    [[ "${1:-}" == quiet ]] || log "no node to stop"
    return 0
  }
  rm -f "$state/egress-map"
  stop_group kubelet
  # The pods' containers: every task of this containerd (its own socket), then the shims.
  if pid_of containerd >/dev/null; then
    local id
    for id in $(node_ctr tasks list -q 2>/dev/null); do
      node_ctr tasks kill --signal SIGKILL "$id" >/dev/null 2>&1 || true
    done
  fi
  stop_group containerd
  local pid
  for pid in $(pgrep -f -- "-address $node_sock" 2>/dev/null || true); do
    kill -KILL "$pid" 2>/dev/null || true
  done
  # Container processes a killed shim left behind sit in the node's cgroups.
  local d p
  for d in $(node_cgroup_dirs); do
    [[ -d "$d/$node_cgroup" ]] || continue
    for p in $(find "$d/$node_cgroup" -name cgroup.procs -exec cat {} + 2>/dev/null); do
      kill -KILL "$p" 2>/dev/null || true
    done
  done
  sleep 0.2
  node_unmount_all
  node_cgroups_remove || log "some cgroups of the node are left (see above)"
  if ip link show "$node_bridge" >/dev/null 2>&1; then ip link del "$node_bridge"; fi
  node_traffic_remove
  node_service_route_remove
  rm -rf "$node_run" "$node_dir"
  [[ "${1:-}" == quiet ]] || log "node down"
}

# node_unmount_all: every mount under the node's dirs, deepest first (lazily when busy).
node_unmount_all() {
  local m
  for m in $(awk '{ print $5 }' /proc/self/mountinfo | grep -E "^($node_dir|$node_run)(/|$)" | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "could not unmount $m"
  done
  if awk '{ print $5 }' /proc/self/mountinfo | grep -qE "^($node_dir|$node_run)(/|$)"; then
    die "mounts under $node_dir are left; not removing it"
  fi
}

node_status() {
  node_vars
  local c rc=0 pid
  for c in containerd kubelet; do
    if pid="$(pid_of "$c")"; then printf '%-24s running (pid %s)\n' "$c" "$pid"
    else printf '%-24s not running\n' "$c"; rc=1; fi
  done
  printf '%-24s %s\n' "node $node_name" "$(node_ready && echo Ready || echo 'not Ready')"
  node_ready || rc=1
  printf '%-24s %s (bridge %s)\n' "pod network" "$node_subnet" "$node_bridge"
  return $rc
}

cmd_node() {
  bin="$(bin_dir)"
  case "${1:-}" in
    up) node_up ;;
    down) node_down ;;
    status) node_status ;;
    smoke) node_smoke ;;
    traffic) node_traffic ;;
    load) shift; node_vars; pid_of containerd >/dev/null || die "the node is not up"; node_load "$@" ;;
    *) die "usage: scripts/sandbox node up|down|status|smoke|traffic|load TARBALL..." ;;
  esac
}

# node_smoke: proves the node runs real pods: a pod that runs to Succeeded with its log read
# through the kubelet, a service-account token mounted, `exec`, an HTTP readiness probe to the
# pod's IP, and a port-forward to a real server in a pod.
node_smoke() {
  node_vars
  node_ready || die "node $node_name is not Ready (scripts/sandbox node up)"
  local ns=kfcheck-node-smoke t0=$SECONDS busybox
  busybox="$(node_image_ref busybox)"
  local placement="  nodeSelector: {${node_label%%=*}: ${node_label#*=}}
  tolerations: [{key: $node_taint_key, operator: Exists, effect: NoSchedule}]"
  node_kubectl delete namespace "$ns" --ignore-not-found --wait=true >/dev/null
  node_kubectl create namespace "$ns" >/dev/null
  node_kubectl label namespace "$ns" app.kubernetes.io/managed-by=kfcheck >/dev/null
  local i
  for ((i = 0; i < 100; i++)); do node_kubectl -n "$ns" get serviceaccount default >/dev/null 2>&1 && break; sleep 0.2; done
  node_kubectl -n "$ns" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: once}
spec:
  restartPolicy: Never
$placement
  containers:
  - name: once
    image: $busybox
    command: [sh, -c, 'echo "token bytes: \$(wc -c < /var/run/secrets/kubernetes.io/serviceaccount/token)"; echo "kernel: \$(uname -r)"; ip -4 route 2>/dev/null || route -n; printf "GET /livez HTTP/1.0\\r\\n\\r\\n" | nc -w 3 "\$KUBERNETES_SERVICE_HOST" "\$KUBERNETES_SERVICE_PORT" | head -n 1 | sed "s/^/apiserver: /"']
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
$placement
  containers:
  - name: web
    image: $busybox
    command: [sh, -c, 'mkdir -p /www && echo kfcheck-node-smoke > /www/index.html && exec httpd -f -p 8080 -h /www']
    ports: [{containerPort: 8080}]
    readinessProbe:
      httpGet: {path: /, port: 8080}
      periodSeconds: 1
YAML
  echo "--- a pod runs to Succeeded; its log comes through the kubelet"
  node_kubectl -n "$ns" wait pod/once --for=jsonpath='{.status.phase}'=Succeeded --timeout=60s >/dev/null \
    || { node_kubectl -n "$ns" describe pod once >&2; die "pod once did not succeed"; }
  local out
  out="$(node_kubectl -n "$ns" logs once)"
  printf '%s\n' "$out"
  [[ "$out" =~ token\ bytes:\ [1-9][0-9]+ ]] || die "no service-account token in the pod"
  # The pod network has no default route: nothing in a pod can reach past the bridge.
  if grep -qE '^(default|0\.0\.0\.0)' <<<"$out"; then die "the pod has a default route"; fi
  # The kubernetes Service reaches the apiserver (node_service_route_make): it answers plain HTTP
  # on its TLS port with a 400, which is enough to know the way is there.
  [[ "$out" == *"apiserver: HTTP/1.0 400"* ]] || die "the pod did not reach the apiserver by the kubernetes Service (\$KUBERNETES_SERVICE_HOST)"
  echo "--- an HTTP readiness probe to the pod's IP (on the bridge), then exec"
  node_kubectl -n "$ns" wait pod/web --for=condition=Ready --timeout=60s >/dev/null \
    || { node_kubectl -n "$ns" describe pod web >&2; die "pod web did not become Ready"; }
  node_kubectl -n "$ns" get pod web -o 'jsonpath={.status.podIP}{"\n"}'
  out="$(node_kubectl -n "$ns" exec web -- cat /www/index.html)"
  [[ "$out" == kfcheck-node-smoke ]] || die "exec answered '$out'"
  echo "exec: $out"
  echo "--- port-forward to the pod's server"
  local port pf
  port="$(free_port)"
  node_kubectl -n "$ns" port-forward pod/web "$port:8080" >/dev/null 2>&1 &
  pf=$!
  out=""
  for ((i = 0; i < 50; i++)); do
    out="$(curl -s --max-time 2 "http://127.0.0.1:$port/" 2>/dev/null || true)"
    [[ -n "$out" ]] && break
    sleep 0.1
  done
  kill "$pf" 2>/dev/null || true
  wait "$pf" 2>/dev/null || true
  [[ "$out" == kfcheck-node-smoke ]] || die "port-forward answered '$out'"
  echo "port-forward: $out"
  node_kubectl delete namespace "$ns" --wait=false >/dev/null
  echo "node smoke: ok in $((SECONDS - t0))s"
}
