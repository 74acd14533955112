//! The node's default InternalIP: the first IPv4 address of an up, non-loopback interface.
//! Addresses come from the kernel over a netlink socket (an `RTM_GETADDR` dump, in interface
//! order, as `ip -4 addr` lists them); interface flags from `/sys/class/net`.

use std::collections::HashMap;
use std::io;
use std::net::Ipv4Addr;
use std::time::Duration;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::sockopt::{Timeout, set_socket_timeout};
use rustix::net::{
    AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, recv, sendto, socket_with,
};

/// `struct nlmsghdr`: length, type, flags, sequence, port.
const NLMSG_HEADER: usize = 16;
/// `struct ifaddrmsg`: family, prefix length, flags, scope, interface index.
const IFADDRMSG: usize = 8;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const AF_INET: u8 = 2;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFF_UP: u32 = 0x1;
const IFF_LOOPBACK: u32 = 0x8;
/// How long the kernel may take to answer the dump.
const RECEIVE_TIMEOUT: Duration = Duration::from_secs(2);

/// An IPv4 address on an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct InterfaceAddress {
    /// The interface index.
    pub(crate) index: u32,
    /// The address.
    pub(crate) ip: Ipv4Addr,
}

/// The first IPv4 address of an up, non-loopback interface, if there is one.
pub(crate) fn first_ipv4() -> Option<Ipv4Addr> {
    let addresses = match ipv4_addresses() {
        Ok(addresses) => addresses,
        Err(err) => {
            tracing::warn!(%err, "cannot list the host's addresses over netlink");
            return None;
        }
    };
    let flags = interface_flags();
    addresses
        .into_iter()
        .find(|a| {
            let f = flags.get(&a.index).copied().unwrap_or(0);
            !a.ip.is_loopback() && f & IFF_UP != 0 && f & IFF_LOOPBACK == 0
        })
        .map(|a| a.ip)
}

/// Every IPv4 address of every interface, in the kernel's order.
pub(crate) fn ipv4_addresses() -> io::Result<Vec<InterfaceAddress>> {
    let fd = socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None, // NETLINK_ROUTE
    )?;
    set_socket_timeout(&fd, Timeout::Recv, Some(RECEIVE_TIMEOUT))?;
    sendto(
        &fd,
        &dump_request(),
        SendFlags::empty(),
        &SocketAddrNetlink::new(0, 0),
    )?;
    let mut buf = vec![0u8; 32 * 1024];
    let mut out = Vec::new();
    loop {
        let (n, _) = recv(&fd, &mut buf[..], RecvFlags::empty())?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "netlink closed before the end of the dump",
            ));
        }
        if parse_messages(&buf[..n], &mut out)? {
            return Ok(out);
        }
    }
}

/// `RTM_GETADDR` for every IPv4 address.
fn dump_request() -> Vec<u8> {
    let len = (NLMSG_HEADER + IFADDRMSG) as u32;
    let mut msg = Vec::with_capacity(len as usize);
    msg.extend_from_slice(&len.to_ne_bytes());
    msg.extend_from_slice(&RTM_GETADDR.to_ne_bytes());
    msg.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port: the kernel
    msg.extend_from_slice(&[AF_INET, 0, 0, 0]);
    msg.extend_from_slice(&0u32.to_ne_bytes()); // every interface
    msg
}

/// Adds the addresses of one datagram's messages to `out`; true at the end of the dump.
fn parse_messages(mut data: &[u8], out: &mut Vec<InterfaceAddress>) -> io::Result<bool> {
    while data.len() >= NLMSG_HEADER {
        let len = u32_at(data, 0) as usize;
        if len < NLMSG_HEADER || len > data.len() {
            return Err(malformed("a message length runs past the datagram"));
        }
        let payload = &data[NLMSG_HEADER..len];
        match u16_at(data, 4) {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = payload
                    .get(..4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                    .ok_or_else(|| malformed("a short error message"))?;
                return Err(io::Error::from_raw_os_error(errno.saturating_neg()));
            }
            RTM_NEWADDR => out.extend(parse_address(payload)),
            _ => {}
        }
        data = &data[align(len).min(data.len())..];
    }
    Ok(false)
}

/// The IPv4 address of one `RTM_NEWADDR` message: `IFA_LOCAL` (the interface's own address
/// on point-to-point links, where `IFA_ADDRESS` is the peer), else `IFA_ADDRESS`.
fn parse_address(payload: &[u8]) -> Option<InterfaceAddress> {
    if payload.len() < IFADDRMSG || payload[0] != AF_INET {
        return None;
    }
    let index = u32_at(payload, 4);
    let (mut local, mut address) = (None, None);
    let mut attrs = &payload[IFADDRMSG..];
    while attrs.len() >= 4 {
        let len = usize::from(u16_at(attrs, 0));
        if len < 4 || len > attrs.len() {
            break;
        }
        let value = &attrs[4..len];
        if let Ok(octets) = <[u8; 4]>::try_from(value) {
            match u16_at(attrs, 2) {
                IFA_LOCAL => local = Some(Ipv4Addr::from(octets)),
                IFA_ADDRESS => address = Some(Ipv4Addr::from(octets)),
                _ => {}
            }
        }
        attrs = &attrs[align(len).min(attrs.len())..];
    }
    Some(InterfaceAddress {
        index,
        ip: local.or(address)?,
    })
}

/// Interface index → `IFF_*` flags, from `/sys/class/net/<name>/{ifindex,flags}`.
fn interface_flags() -> HashMap<u32, u32> {
    let Ok(entries) = std::fs::read_dir("/sys/class/net") else {
        return HashMap::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let dir = entry.path();
            let index = std::fs::read_to_string(dir.join("ifindex")).ok()?;
            let flags = std::fs::read_to_string(dir.join("flags")).ok()?;
            let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).ok()?;
            Some((index.trim().parse().ok()?, flags))
        })
        .collect()
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn malformed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("netlink: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(ty: u16, payload: &[u8]) -> Vec<u8> {
        let len = (NLMSG_HEADER + payload.len()) as u32;
        let mut m = Vec::new();
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(payload);
        m.resize(align(m.len()), 0);
        m
    }

    fn attr(ty: u16, value: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&ty.to_ne_bytes());
        a.extend_from_slice(value);
        a.resize(align(a.len()), 0);
        a
    }

    fn address(family: u8, index: u32, attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut p = vec![family, 24, 0, 0];
        p.extend_from_slice(&index.to_ne_bytes());
        for a in attrs {
            p.extend_from_slice(a);
        }
        message(RTM_NEWADDR, &p)
    }

    #[test]
    fn a_dump_yields_ipv4_addresses_in_order_until_done() {
        let mut data = address(AF_INET, 1, &[attr(IFA_ADDRESS, &[127, 0, 0, 1])]);
        // Point-to-point: IFA_ADDRESS is the peer, IFA_LOCAL ours.
        data.extend(address(
            AF_INET,
            3,
            &[
                attr(IFA_ADDRESS, &[10, 0, 0, 2]),
                attr(IFA_LOCAL, &[10, 0, 0, 1]),
                attr(3, b"tun0\0"),
            ],
        ));
        data.extend(address(10, 4, &[attr(IFA_ADDRESS, &[0; 16])]));
        let mut out = Vec::new();
        assert!(!parse_messages(&data, &mut out).unwrap());
        assert_eq!(
            out,
            vec![
                InterfaceAddress {
                    index: 1,
                    ip: Ipv4Addr::LOCALHOST
                },
                InterfaceAddress {
                    index: 3,
                    ip: Ipv4Addr::new(10, 0, 0, 1)
                },
            ]
        );
        assert!(parse_messages(&message(NLMSG_DONE, &[0; 4]), &mut out).unwrap());
    }

    #[test]
    fn errors_and_truncation_are_errors() {
        let mut out = Vec::new();
        let err =
            parse_messages(&message(NLMSG_ERROR, &(-13i32).to_ne_bytes()), &mut out).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(13));
        let mut data = address(AF_INET, 1, &[attr(IFA_ADDRESS, &[1, 2, 3, 4])]);
        data.truncate(data.len() - 4);
        assert!(parse_messages(&data, &mut out).is_err());
    }

    #[test]
    fn the_kernel_lists_the_loopback_address() {
        let addresses = ipv4_addresses().unwrap();
        assert!(
            addresses.iter().any(|a| a.ip == Ipv4Addr::LOCALHOST),
            "{addresses:?}"
        );
        if let Some(ip) = first_ipv4() {
            assert!(!ip.is_loopback());
            assert!(addresses.iter().any(|a| a.ip == ip));
        }
    }
}
