//! rtnetlink requests from inside the process (netlink-packet-route over a synchronous
//! netlink-sys socket): the links, addresses and routes of an attach, without starting
//! `ip`. A socket talks to the network namespace of the thread that opened it.

use crate::{Error, Result};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

pub struct Rtnl {
    sock: Socket,
    seq: u32,
}

fn err(what: &str, e: std::io::Error) -> Error {
    let hint = if e.raw_os_error() == Some(libc::EPERM) {
        " (berth needs root, or CAP_NET_ADMIN, for bridge networks)"
    } else {
        ""
    };
    Error::Kernel(format!("{what}: {e}{hint}"))
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn index(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    #[allow(unsafe_code)]
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

impl Rtnl {
    pub fn open() -> Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| err("open a netlink socket", e))?;
        sock.bind_auto()
            .map_err(|e| err("bind a netlink socket", e))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| err("connect a netlink socket", e))?;
        Ok(Rtnl { sock, seq: 0 })
    }

    /// Sends one request and waits for its acknowledgement.
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16, what: &str) -> Result<()> {
        self.seq += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut m = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        m.finalize();
        let mut buf = vec![0u8; m.buffer_len()];
        m.serialize(&mut buf);
        self.sock.send(&buf, 0).map_err(|e| err(what, e))?;
        loop {
            let (data, _) = self.sock.recv_from_full().map_err(|e| err(what, e))?;
            let mut off = 0;
            while off < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..])
                    .map_err(|e| Error::Kernel(format!("{what}: bad netlink reply: {e}")))?;
                let len = reply.header.length as usize;
                if reply.header.sequence_number == self.seq {
                    if let NetlinkPayload::Error(e) = reply.payload {
                        return match e.code {
                            None => Ok(()),
                            Some(c) => Err(err(what, std::io::Error::from_raw_os_error(-c.get()))),
                        };
                    }
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }

    /// Creates bridge `name` with the MAC address `mac`, up. A bridge given no address
    /// takes the lowest of its ports' and changes it as containers come and go, which
    /// leaves every other container's neighbour entry for the gateway stale: their DNS
    /// queries and outbound packets went to the old address and were lost for seconds.
    pub fn add_bridge(&mut self, name: &str, mac: [u8; 6]) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes.push(LinkAttribute::IfName(name.into()));
        m.attributes.push(LinkAttribute::Address(mac.to_vec()));
        m.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Bridge,
            )]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("create bridge {name}"),
        )
    }

    /// A veth pair: `host` enslaved to bridge `master` and up, its peer `peer` (with
    /// `mac`) created straight in the namespace open as `ns`.
    pub fn add_veth(
        &mut self,
        host: &str,
        master: u32,
        peer: &str,
        mac: [u8; 6],
        ns: &std::fs::File,
    ) -> Result<()> {
        let mut p = LinkMessage::default();
        p.attributes.push(LinkAttribute::IfName(peer.into()));
        p.attributes.push(LinkAttribute::Address(mac.to_vec()));
        p.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        let mut m = LinkMessage::default();
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        m.attributes.push(LinkAttribute::IfName(host.into()));
        m.attributes.push(LinkAttribute::Controller(master));
        m.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(p))),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("create the veth pair {host}"),
        )
    }

    pub fn set_up(&mut self, index: u32, what: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.header.flags = LinkFlags::Up;
        m.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(m), 0, what)
    }

    /// Gives link `index` the MAC address `mac`.
    pub fn set_mac(&mut self, index: u32, mac: [u8; 6], what: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        m.attributes.push(LinkAttribute::Address(mac.to_vec()));
        self.request(RouteNetlinkMessage::SetLink(m), 0, what)
    }

    pub fn del_link(&mut self, index: u32, what: &str) -> Result<()> {
        let mut m = LinkMessage::default();
        m.header.index = index;
        self.request(RouteNetlinkMessage::DelLink(m), 0, what)
    }

    pub fn add_address(&mut self, index: u32, a: Ipv4Addr, prefix: u8, what: &str) -> Result<()> {
        let mut m = AddressMessage::default();
        m.header.family = AddressFamily::Inet;
        m.header.prefix_len = prefix;
        m.header.index = index;
        m.attributes.push(AddressAttribute::Local(a.into()));
        m.attributes.push(AddressAttribute::Address(a.into()));
        let bits = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        m.attributes
            .push(AddressAttribute::Broadcast(Ipv4Addr::from(
                u32::from(a) | !bits,
            )));
        self.request(
            RouteNetlinkMessage::NewAddress(m),
            NLM_F_CREATE | NLM_F_EXCL,
            what,
        )
    }

    pub fn add_default_route(&mut self, gw: Ipv4Addr, oif: u32) -> Result<()> {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.protocol = RouteProtocol::Boot;
        m.header.scope = RouteScope::Universe;
        m.header.kind = RouteType::Unicast;
        m.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gw)));
        m.attributes.push(RouteAttribute::Oif(oif));
        self.request(
            RouteNetlinkMessage::NewRoute(m),
            NLM_F_CREATE | NLM_F_EXCL,
            &format!("add the default route via {gw}"),
        )
    }
}
