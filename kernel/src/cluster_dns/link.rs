//! The cluster DNS address's home: a dummy interface holding it as a /32, made and removed
//! over a netlink socket (`RTM_NEWLINK` of kind `dummy`, `RTM_NEWADDR`, `RTM_DELLINK`), as
//! `ip link add … type dummy` and `ip addr add` would. Kernels built without the dummy
//! driver (`EOPNOTSUPP`) get an empty bridge instead, which holds a local address just as
//! well. Pods reach it routed through the host (their default route is the bridge's
//! address), so it needs no route of its own.

use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::sockopt::{Timeout, set_socket_timeout};
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, recv, sendto, socket_with,
};

const NLMSG_HEADER: usize = 16;
const NLMSG_ERROR: u16 = 2;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_REPLACE: u16 = 0x100;
const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFF_UP: u32 = 0x1;
/// `RT_SCOPE_UNIVERSE`, as `ip addr add` gives (kube-proxy's `kube-ipvs0` addresses too).
const RT_SCOPE_UNIVERSE: u8 = 0;
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(2);
/// Linux's longest interface name (`IFNAMSIZ` less the final NUL).
pub const MAX_NAME: usize = 15;

/// The dummy interface of a cluster whose pods use bridge `bridge`: `<bridge>-dns`, or
/// `kdns-<hash of the bridge>` when that would be longer than [`MAX_NAME`], so two clusters
/// on one machine (each with its own bridge) never share it.
pub fn interface_name(bridge: &str) -> String {
    let plain = format!("{bridge}-dns");
    if plain.len() <= MAX_NAME {
        return plain;
    }
    // FNV-1a: stable across builds and machines.
    let hash = bridge.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    format!("kdns-{hash:08x}")
}

/// Creates dummy interface `name`, up, holding `address`/32. An interface of that name left
/// behind (a kmicro killed with SIGKILL) is reused: the address is (re)set on it.
pub fn create(name: &str, address: Ipv4Addr) -> io::Result<()> {
    let created = match request(&new_link(name, "dummy")) {
        Err(err) if err.raw_os_error() == Some(libc::EOPNOTSUPP) => {
            tracing::debug!(
                interface = name,
                "no dummy interfaces in this kernel; an empty bridge holds the cluster DNS address"
            );
            request(&new_link(name, "bridge"))
        }
        other => other,
    };
    match created {
        Ok(()) => {}
        Err(err) if err.raw_os_error() == Some(libc::EEXIST) => {
            tracing::info!(
                interface = name,
                "cluster DNS interface already exists (left by an earlier run); reusing it"
            );
            request(&set_up(name))?;
        }
        Err(err) => return Err(err),
    }
    let index = index_of(name)?;
    request(&new_address(index, address))
}

/// Removes interface `name` (its address goes with it); absent is fine.
pub fn remove(name: &str) -> io::Result<()> {
    match request(&del_link(name)) {
        Err(err) if err.raw_os_error() == Some(libc::ENODEV) => Ok(()),
        other => other,
    }
}

/// Whether interface `name` exists.
pub fn exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

fn index_of(name: &str) -> io::Result<u32> {
    let path = format!("/sys/class/net/{name}/ifindex");
    std::fs::read_to_string(&path)?
        .trim()
        .parse()
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("{path} is no number")))
}

/// Sends one request and waits for its acknowledgement.
fn request(msg: &[u8]) -> io::Result<()> {
    let fd = socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None, // NETLINK_ROUTE
    )?;
    set_socket_timeout(&fd, Timeout::Recv, Some(RECEIVE_TIMEOUT))?;
    sendto(&fd, msg, SendFlags::empty(), &SocketAddrNetlink::new(0, 0))?;
    let mut buf = vec![0u8; 8192];
    let (n, _) = recv(&fd, &mut buf[..], RecvFlags::empty())?;
    let data = &buf[..n.min(buf.len())];
    if data.len() < NLMSG_HEADER + 4 || u16::from_ne_bytes([data[4], data[5]]) != NLMSG_ERROR {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "netlink answered without an acknowledgement",
        ));
    }
    let errno = i32::from_ne_bytes([data[16], data[17], data[18], data[19]]);
    if errno == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(errno.saturating_neg()))
    }
}

/// A netlink message: header, fixed part, attributes.
struct Message {
    bytes: Vec<u8>,
}

impl Message {
    fn new(kind: u16, flags: u16, fixed: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(64);
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // length, set by `done`
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        bytes.extend_from_slice(&1u32.to_ne_bytes()); // sequence
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel
        bytes.extend_from_slice(fixed);
        Self { bytes }
    }

    fn attr(&mut self, kind: u16, value: &[u8]) -> &mut Self {
        let len = 4 + value.len();
        self.bytes
            .extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_ne_bytes());
        self.bytes.extend_from_slice(&kind.to_ne_bytes());
        self.bytes.extend_from_slice(value);
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
        self
    }

    fn done(&mut self) -> Vec<u8> {
        let len = u32::try_from(self.bytes.len()).unwrap_or(u32::MAX);
        self.bytes[..4].copy_from_slice(&len.to_ne_bytes());
        std::mem::take(&mut self.bytes)
    }
}

/// `struct ifinfomsg`: family, padding, type, index, flags, change mask.
fn ifinfomsg(flags: u32, change: u32) -> Vec<u8> {
    let mut out = vec![AF_UNSPEC, 0, 0, 0];
    out.extend_from_slice(&0i32.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&change.to_ne_bytes());
    out
}

fn c_name(name: &str) -> Vec<u8> {
    let mut out = name.as_bytes().to_vec();
    out.push(0);
    out
}

/// `RTM_NEWLINK` creating interface `name` of `kind` (`dummy`, `bridge`), up.
fn new_link(name: &str, kind_name: &str) -> Vec<u8> {
    let mut kind = Message {
        bytes: Vec::with_capacity(16),
    };
    kind.attr(IFLA_INFO_KIND, kind_name.as_bytes());
    Message::new(
        RTM_NEWLINK,
        NLM_F_CREATE | NLM_F_EXCL,
        &ifinfomsg(IFF_UP, IFF_UP),
    )
    .attr(IFLA_IFNAME, &c_name(name))
    .attr(IFLA_LINKINFO, &kind.bytes)
    .done()
}

fn set_up(name: &str) -> Vec<u8> {
    Message::new(RTM_NEWLINK, 0, &ifinfomsg(IFF_UP, IFF_UP))
        .attr(IFLA_IFNAME, &c_name(name))
        .done()
}

fn del_link(name: &str) -> Vec<u8> {
    Message::new(RTM_DELLINK, 0, &ifinfomsg(0, 0))
        .attr(IFLA_IFNAME, &c_name(name))
        .done()
}

/// `RTM_NEWADDR` of `address`/32 on interface `index` (replacing it if already there).
fn new_address(index: u32, address: Ipv4Addr) -> Vec<u8> {
    // `struct ifaddrmsg`: family, prefix length, flags, scope, index.
    let mut fixed = vec![AF_INET, 32, 0, RT_SCOPE_UNIVERSE];
    fixed.extend_from_slice(&index.to_ne_bytes());
    Message::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, &fixed)
        .attr(IFA_LOCAL, &address.octets())
        .attr(IFA_ADDRESS, &address.octets())
        .done()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_differ_per_bridge() {
        assert_eq!(interface_name("cni0"), "cni0-dns");
        assert_eq!(interface_name("kmt-12"), "kmt-12-dns");
        let a = interface_name("a-very-long-br1");
        let b = interface_name("a-very-long-br2");
        assert!(a.len() <= MAX_NAME && b.len() <= MAX_NAME);
        assert_ne!(a, b);
        assert!(a.starts_with("kdns-"));
    }

    #[test]
    fn messages_are_well_formed() {
        let msg = new_link("kmt-1-dns", "dummy");
        let len = u32::from_ne_bytes([msg[0], msg[1], msg[2], msg[3]]) as usize;
        assert_eq!(len, msg.len());
        assert_eq!(len % 4, 0);
        assert_eq!(u16::from_ne_bytes([msg[4], msg[5]]), RTM_NEWLINK);
        let addr = new_address(7, Ipv4Addr::new(10, 43, 0, 10));
        assert_eq!(&addr[16..20], &[AF_INET, 32, 0, RT_SCOPE_UNIVERSE]);
        assert_eq!(
            u32::from_ne_bytes([addr[20], addr[21], addr[22], addr[23]]),
            7
        );
        assert_eq!(&addr[28..32], &[10, 43, 0, 10]);
    }
}
