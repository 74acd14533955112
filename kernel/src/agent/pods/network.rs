//! A pod's network. **The seam the CNI integration replaces** ([`attach`] and [`detach`]):
//! today a pod gets its own network namespace with only its loopback up (no routable
//! address), and a `hostNetwork` pod gets the node's address. `kmicro-network`'s
//! `PodNetwork::setup`/`teardown` go here, answering the pod's IP.
//!
//! Also: running a piece of work inside a pod's network namespace (probes of pods that have no
//! routable address), on a thread of its own that enters the namespace and then ends.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kmicro_container::Sandbox;
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::sockopt::{Timeout, set_socket_timeout};
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, recv, sendto, socket_with,
};

/// Connects `sandbox`'s pod to the network; answers the pod's IP when it has one.
pub async fn attach(sandbox: &Sandbox, node_ip: IpAddr) -> anyhow::Result<Option<IpAddr>> {
    if sandbox.spec.host_network {
        return Ok(Some(node_ip));
    }
    let Some(netns) = sandbox.netns_path() else {
        return Ok(None);
    };
    tokio::task::spawn_blocking(move || in_netns(&netns, loopback_up))
        .await
        .map_err(|e| anyhow::anyhow!("bringing the pod's loopback up: {e}"))?
        .map_err(|e| anyhow::anyhow!("bringing the pod's loopback up: {e}"))??;
    Ok(None)
}

/// Disconnects `sandbox`'s pod from the network (nothing to undo for a loopback).
pub async fn detach(_sandbox: &Sandbox) -> anyhow::Result<()> {
    Ok(())
}

/// Runs `work` on a new thread that first enters the network namespace at `netns` (so the
/// caller's threads, and tokio's, never change namespace).
pub fn in_netns<R: Send + 'static>(
    netns: &Path,
    work: impl FnOnce() -> R + Send + 'static,
) -> io::Result<R> {
    let netns: PathBuf = netns.to_path_buf();
    std::thread::Builder::new()
        .name("kmicro-netns".into())
        .spawn(move || -> io::Result<R> {
            let file = std::fs::File::open(&netns)?;
            rustix::thread::move_into_link_name_space(
                file.as_fd(),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )?;
            Ok(work())
        })?
        .join()
        .map_err(|_| io::Error::other("the network namespace thread panicked"))?
}

/// `ip link set lo up` over netlink: `RTM_NEWLINK` for interface 1 (the loopback, always
/// first in a new namespace) with `IFF_UP`, acknowledged.
fn loopback_up() -> io::Result<()> {
    const RTM_NEWLINK: u16 = 16;
    const NLMSG_ERROR: u16 = 2;
    const NLM_F_REQUEST: u16 = 0x1;
    const NLM_F_ACK: u16 = 0x4;
    const IFF_UP: u32 = 0x1;
    let fd = socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None,
    )?;
    set_socket_timeout(&fd, Timeout::Recv, Some(Duration::from_secs(2)))?;
    let mut msg = Vec::with_capacity(32);
    msg.extend_from_slice(&32u32.to_ne_bytes()); // length
    msg.extend_from_slice(&RTM_NEWLINK.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port
    msg.push(0); // family AF_UNSPEC
    msg.push(0); // padding
    msg.extend_from_slice(&0u16.to_ne_bytes()); // type
    msg.extend_from_slice(&1i32.to_ne_bytes()); // index
    msg.extend_from_slice(&IFF_UP.to_ne_bytes()); // flags
    msg.extend_from_slice(&IFF_UP.to_ne_bytes()); // change mask
    sendto(&fd, &msg, SendFlags::empty(), &SocketAddrNetlink::new(0, 0))?;
    let mut buf = [0u8; 1024];
    let (n, _) = recv(&fd, &mut buf[..], RecvFlags::empty())?;
    if n >= 20 && u16::from_ne_bytes([buf[4], buf[5]]) == NLMSG_ERROR {
        let code = i32::from_ne_bytes([buf[16], buf[17], buf[18], buf[19]]);
        if code != 0 {
            return Err(io::Error::from_raw_os_error(-code));
        }
    }
    Ok(())
}
