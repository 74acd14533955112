//! The DNS server: questions over UDP and TCP, answered from [`Records`] when they are in the
//! cluster zone (or reverse lookups of cluster addresses), forwarded to the host's resolvers
//! otherwise, as CoreDNS's `kubernetes` and `forward` plugins do in k3s.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use simple_dns::rdata::{A, AAAA, CNAME, PTR, RData, SOA, SRV};
use simple_dns::{CLASS, Name, Packet, PacketFlag, QTYPE, RCODE, ResourceRecord, TYPE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::records::{Lookup, QueryType, Record, Records, TTL};

/// How long an upstream resolver has to answer.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a TCP client may take to send its question.
const TCP_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest UDP answer sent without the truncation bit (no EDNS0 buffer negotiation).
const UDP_MAX: usize = 512;

/// What the server answers from and forwards to.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// The cluster zone (`cluster.local`).
    pub zone: String,
    /// Resolvers for names outside the cluster (the host's, from its resolv.conf).
    pub upstreams: Vec<SocketAddr>,
}

/// A DNS server over shared [`Records`].
#[derive(Clone)]
pub struct DnsServer {
    config: Arc<DnsConfig>,
    records: Arc<RwLock<Records>>,
}

impl DnsServer {
    /// A server answering from `records` (kept up to date by the caller).
    pub fn new(config: DnsConfig, records: Arc<RwLock<Records>>) -> Self {
        Self {
            config: Arc::new(config),
            records,
        }
    }

    /// Serves questions arriving on `socket` until the task is dropped.
    pub async fn serve_udp(self, socket: UdpSocket) {
        let socket = Arc::new(socket);
        let mut buf = vec![0u8; 4096];
        loop {
            let (len, peer) = match socket.recv_from(&mut buf).await {
                Ok(got) => got,
                Err(err) => {
                    tracing::debug!(%err, "dns: receiving");
                    continue;
                }
            };
            let query = buf[..len].to_vec();
            let (server, socket) = (self.clone(), Arc::clone(&socket));
            tokio::spawn(async move {
                if let Some(mut reply) = server.reply(&query).await {
                    if reply.len() > UDP_MAX {
                        reply = truncated(&query).unwrap_or(reply);
                    }
                    let _ = socket.send_to(&reply, peer).await;
                }
            });
        }
    }

    /// Serves TCP connections accepted on `listener` until the task is dropped.
    pub async fn serve_tcp(self, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let server = self.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(TCP_READ_TIMEOUT * 4, server.tcp(stream)).await;
            });
        }
    }

    /// Questions on one TCP connection, each with its two-byte length.
    async fn tcp(&self, mut stream: TcpStream) -> std::io::Result<()> {
        loop {
            let len = match tokio::time::timeout(TCP_READ_TIMEOUT, stream.read_u16()).await {
                Ok(Ok(len)) => usize::from(len),
                _ => return Ok(()),
            };
            let mut query = vec![0u8; len];
            stream.read_exact(&mut query).await?;
            let Some(reply) = self.reply(&query).await else {
                return Ok(());
            };
            let Ok(reply_len) = u16::try_from(reply.len()) else {
                return Ok(());
            };
            stream.write_u16(reply_len).await?;
            stream.write_all(&reply).await?;
        }
    }

    /// The reply to `query` (a DNS message); `None` for what cannot be answered at all.
    pub async fn reply(&self, query: &[u8]) -> Option<Vec<u8>> {
        let packet = Packet::parse(query).ok()?;
        let question = packet.questions.first()?;
        let name = question.qname.to_string();
        let qtype = match question.qtype {
            QTYPE::TYPE(TYPE::A) => QueryType::A,
            QTYPE::TYPE(TYPE::AAAA) => QueryType::Aaaa,
            QTYPE::TYPE(TYPE::SRV) => QueryType::Srv,
            QTYPE::TYPE(TYPE::PTR) => QueryType::Ptr,
            _ => QueryType::Other,
        };
        let lookup = self
            .records
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .lookup(&self.config.zone, &name, qtype);
        match lookup {
            Lookup::NotCluster => self
                .forward(query)
                .await
                .or_else(|| build_reply(&packet, RCODE::ServerFailure, &[], None)),
            Lookup::NxDomain => {
                build_reply(&packet, RCODE::NameError, &[], Some(&self.config.zone))
            }
            Lookup::Answer(records) => {
                let soa = records.is_empty().then_some(self.config.zone.as_str());
                build_reply(&packet, RCODE::NoError, &records, soa)
            }
        }
    }

    /// Sends `query` to each upstream in turn; the first answer wins.
    async fn forward(&self, query: &[u8]) -> Option<Vec<u8>> {
        for upstream in &self.config.upstreams {
            let bind: SocketAddr = match upstream.ip() {
                IpAddr::V4(_) => "0.0.0.0:0".parse().ok()?,
                IpAddr::V6(_) => "[::]:0".parse().ok()?,
            };
            let Ok(socket) = UdpSocket::bind(bind).await else {
                continue;
            };
            if socket.send_to(query, upstream).await.is_err() {
                continue;
            }
            let mut buf = vec![0u8; 4096];
            match tokio::time::timeout(FORWARD_TIMEOUT, socket.recv_from(&mut buf)).await {
                Ok(Ok((len, from))) if from == *upstream => {
                    buf.truncate(len);
                    return Some(buf);
                }
                _ => tracing::debug!(%upstream, "dns: no answer from upstream"),
            }
        }
        None
    }
}

/// The host's resolvers from resolv.conf text (port 53), in order.
pub fn upstreams_from_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            let ip: IpAddr = words.next()?.split('%').next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .collect()
}

/// An answer to `query` with `rcode` and `records`; the zone's SOA in the authority section
/// for negative answers (so resolvers cache them for [`TTL`]).
fn build_reply(
    query: &Packet<'_>,
    rcode: RCODE,
    records: &[Record],
    soa_zone: Option<&str>,
) -> Option<Vec<u8>> {
    let mut reply = Packet::new_reply(query.id());
    let mut flags = PacketFlag::AUTHORITATIVE_ANSWER | PacketFlag::RECURSION_AVAILABLE;
    if query.has_flags(PacketFlag::RECURSION_DESIRED) {
        flags |= PacketFlag::RECURSION_DESIRED;
    }
    reply.set_flags(flags);
    *reply.rcode_mut() = rcode;
    reply.questions = query.questions.clone();
    for record in records {
        match record {
            Record::A(name, ip) => reply.answers.push(rr(
                name,
                RData::A(A {
                    address: u32::from(*ip),
                }),
            )),
            Record::Aaaa(name, ip) => reply.answers.push(rr(
                name,
                RData::AAAA(AAAA {
                    address: u128::from(*ip),
                }),
            )),
            Record::Cname(name, target) => {
                reply
                    .answers
                    .push(rr(name, RData::CNAME(CNAME(owned_name(target)))));
            }
            Record::Ptr(name, target) => {
                reply
                    .answers
                    .push(rr(name, RData::PTR(PTR(owned_name(target)))));
            }
            Record::Srv {
                name,
                port,
                target,
                addresses,
            } => {
                reply.answers.push(rr(
                    name,
                    RData::SRV(SRV {
                        // CoreDNS spreads weight evenly; one record per target here.
                        priority: 0,
                        weight: 100,
                        port: *port,
                        target: owned_name(target),
                    }),
                ));
                for ip in addresses {
                    let rdata = match ip {
                        IpAddr::V4(v4) => RData::A(A {
                            address: u32::from(*v4),
                        }),
                        IpAddr::V6(v6) => RData::AAAA(AAAA {
                            address: u128::from(*v6),
                        }),
                    };
                    reply.additional_records.push(rr(target, rdata));
                }
            }
        }
    }
    if let Some(zone) = soa_zone {
        reply.name_servers.push(rr(
            zone,
            RData::SOA(SOA {
                mname: owned_name(&format!("ns.dns.{zone}")),
                rname: owned_name(&format!("hostmaster.{zone}")),
                serial: 1,
                refresh: 7200,
                retry: 1800,
                expire: 86400,
                minimum: TTL,
            }),
        ));
    }
    reply.build_bytes_vec_compressed().ok()
}

/// A reply with only the header and question, the truncation bit set (the client asks again
/// over TCP).
fn truncated(query: &[u8]) -> Option<Vec<u8>> {
    let packet = Packet::parse(query).ok()?;
    let mut reply = Packet::new_reply(packet.id());
    reply.set_flags(
        PacketFlag::AUTHORITATIVE_ANSWER | PacketFlag::RECURSION_AVAILABLE | PacketFlag::TRUNCATION,
    );
    reply.questions = packet.questions.clone();
    reply.build_bytes_vec_compressed().ok()
}

fn owned_name(name: &str) -> Name<'static> {
    Name::new_unchecked(name).into_owned()
}

fn rr(name: &str, rdata: RData<'static>) -> ResourceRecord<'static> {
    ResourceRecord::new(owned_name(name), CLASS::IN, TTL, rdata)
}
