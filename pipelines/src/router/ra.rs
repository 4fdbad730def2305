//! Router Advertisements ([RFC 4861 § 6.2]) with the MTU, Prefix
//! Information, RDNSS ([RFC 8106]) and PREF64 ([RFC 8781]) options, and
//! the answer to Router Solicitations ([RFC 4861 § 6.1.1, § 6.2.6]).
//!
//! Every RA goes to all-nodes (`ff02::1`) from the interface's link-local
//! address, hop limit 255, with the Source Link-Layer Address option first.
//!
//! * Unsolicited (worker 0 only, like the announcements at start): the
//!   first at the first tick, the next ones at a uniformly random time in
//!   [MinRtrAdvInterval, MaxRtrAdvInterval] after the previous multicast
//!   RA, capped at `MAX_INITIAL_RTR_ADVERT_INTERVAL` (16 s) between the
//!   first `MAX_INITIAL_RTR_ADVERTISEMENTS` (3).
//! * Solicited (any worker, for the solicitations it receives): after a
//!   random delay of up to `MAX_RA_DELAY_TIME` (0.5 s), and no sooner than
//!   `MIN_DELAY_BETWEEN_RAS` (3 s) after this worker's previous multicast
//!   RA on the interface; a solicitation that arrives while an RA is
//!   already due earlier is answered by that RA.
//!
//! The message is written straight into the frame the engine lends for
//! emission ([`crate::Ctx::emit`]); nothing is allocated.

use std::net::{IpAddr, Ipv6Addr};

use super::neigh::Key;
use super::resolve::ndp_message;
use super::spec::{IfaceId, IfaceSpec, RaSpec};
use super::Core;
use crate::wire::ethernet::MacAddr;
use crate::wire::ipv6;
use crate::wire::ndp::{
    emit_mtu, emit_pref64, emit_prefix_info, emit_rdnss, emit_slla, RouterAdvertRepr, RouterSolicit,
};
use crate::{Ctx, DropReason, Packet, Verdict};

const SEC: u64 = 1_000_000_000;
/// [RFC 4861 § 10] router constants.
pub const MAX_INITIAL_RTR_ADVERT_INTERVAL_NS: u64 = 16 * SEC;
pub const MAX_INITIAL_RTR_ADVERTISEMENTS: u8 = 3;
pub const MIN_DELAY_BETWEEN_RAS_NS: u64 = 3 * SEC;
pub const MAX_RA_DELAY_TIME_NS: u64 = SEC / 2;
/// When no frame could be had for an RA, try again this much later.
const RETRY_NS: u64 = SEC / 10;

const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Writes a Router Advertisement for `ra` (fixed part, then the options:
/// SLLA with `mac`, MTU, prefixes, RDNSS, PREF64) into `msg`, checksum
/// left zero; returns its length, `None` if `msg` is too short.
pub fn write_ra(msg: &mut [u8], ra: &RaSpec, mac: MacAddr) -> Option<usize> {
    let repr = RouterAdvertRepr {
        cur_hop_limit: ra.hop_limit,
        managed: ra.managed,
        other_config: ra.other_config,
        router_lifetime: ra.router_lifetime,
        reachable_time: ra.reachable_time,
        retrans_timer: ra.retrans_timer,
    };
    let mut n = repr.emit(msg).ok()?;
    n += emit_slla(msg.get_mut(n..)?, mac).ok()?;
    if let Some(mtu) = ra.mtu {
        n += emit_mtu(msg.get_mut(n..)?, mtu).ok()?;
    }
    for p in &ra.prefixes {
        n += emit_prefix_info(msg.get_mut(n..)?, p).ok()?;
    }
    if let Some(r) = &ra.rdnss {
        n += emit_rdnss(msg.get_mut(n..)?, r.lifetime, &r.servers).ok()?;
    }
    if let Some(p) = &ra.pref64 {
        n += emit_pref64(msg.get_mut(n..)?, p.lifetime, p.prefix, p.len).ok()?;
    }
    Some(n)
}

/// RA timers of one interface, in nanoseconds of [`Ctx::now_ns`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Timers {
    /// Next unsolicited RA (worker 0 only).
    unsolicited: Option<u64>,
    /// Answer to a solicitation.
    solicited: Option<u64>,
    /// Last multicast RA sent.
    last: Option<u64>,
    /// Initial advertisements left (the interval after them is capped).
    initial: u8,
}

impl Timers {
    fn due(&self) -> Option<u64> {
        match (self.unsolicited, self.solicited) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The RA state of one worker: timers per interface and a small PRNG for
/// the random intervals and delays.
#[derive(Debug)]
pub struct RaTimers {
    ifaces: Vec<Timers>,
    /// Sends unsolicited RAs (worker 0).
    periodic: bool,
    started: bool,
    rng: u64,
}

impl RaTimers {
    pub fn new(ifaces: &[IfaceSpec], worker: usize) -> Self {
        // Seeded from the MACs and the worker (and the time of the first
        // tick): routers on one link must not tick in step (§ 6.2.4).
        let mut seed =
            0x9e37_79b9_7f4a_7c15u64 ^ (worker as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        for f in ifaces {
            for b in f.mac.0 {
                seed = (seed ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
        }
        RaTimers {
            ifaces: vec![Timers::default(); ifaces.len()],
            periodic: worker == 0,
            started: false,
            rng: seed | 1,
        }
    }

    /// xorshift64*.
    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `[lo, hi]`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.random() % (hi - lo + 1)
    }

    /// First tick: the first unsolicited RA on every advertising interface
    /// is due now.
    fn start(&mut self, ifaces: &[IfaceSpec], now: u64) {
        self.started = true;
        self.rng ^= now.wrapping_mul(0x94d0_49bb_1331_11eb);
        if self.rng == 0 {
            self.rng = 1;
        }
        if !self.periodic {
            return;
        }
        for (t, f) in self.ifaces.iter_mut().zip(ifaces) {
            if f.ra.is_some() {
                t.unsolicited = Some(now);
                t.initial = MAX_INITIAL_RTR_ADVERTISEMENTS;
            }
        }
    }

    /// A multicast RA went out on interface `i` at `now`: § 6.2.4 resets
    /// the unsolicited timer.
    fn sent(&mut self, i: usize, now: u64, ra: &RaSpec) {
        let lo = u64::from(ra.min_interval_ms) * 1_000_000;
        let hi = u64::from(ra.max_interval_ms) * 1_000_000;
        let mut next = self.between(lo, hi);
        let periodic = self.periodic;
        let t = &mut self.ifaces[i];
        t.last = Some(now);
        t.solicited = None;
        if periodic {
            t.initial = t.initial.saturating_sub(1);
            if t.initial > 0 {
                next = next.min(MAX_INITIAL_RTR_ADVERT_INTERVAL_NS);
            }
            t.unsolicited = Some(now + next);
        }
    }

    /// No frame could be had: try again a little later.
    fn failed(&mut self, i: usize, now: u64) {
        let t = &mut self.ifaces[i];
        let retry = Some(now + RETRY_NS);
        if t.unsolicited.is_some_and(|u| u <= now) {
            t.unsolicited = retry;
        }
        if t.solicited.is_some_and(|s| s <= now) {
            t.solicited = retry;
        }
    }

    /// A valid solicitation arrived on interface `i` at `now` (§ 6.2.6).
    fn solicited(&mut self, i: usize, now: u64) {
        let delay = self.between(0, MAX_RA_DELAY_TIME_NS);
        let t = &mut self.ifaces[i];
        let at = match t.last {
            Some(last) if now < last + MIN_DELAY_BETWEEN_RAS_NS => {
                last + MIN_DELAY_BETWEEN_RAS_NS + delay
            }
            _ => now + delay,
        };
        if t.due().is_some_and(|d| d <= at) {
            return; // the RA already scheduled answers it
        }
        t.solicited = Some(at);
    }
}

impl Core {
    /// Sends the RAs that are due (from [`crate::Pipeline::tick`]).
    pub(crate) fn ra_tick(&mut self, cx: &mut Ctx<'_>) {
        let now = cx.now_ns;
        if !self.ra.started {
            self.ra.start(&self.ifaces, now);
        }
        for i in 0..self.ifaces.len() {
            match self.ra.ifaces[i].due() {
                Some(d) if d <= now => {}
                _ => continue,
            }
            if self.send_ra(cx, i as IfaceId) {
                if let Some(ra) = &self.ifaces[i].ra {
                    self.ra.sent(i, now, ra);
                }
            } else {
                self.ra.failed(i, now);
            }
        }
    }

    /// Emits one RA on `iface`; `false` if it has none configured or no
    /// frame could be had.
    fn send_ra(&self, cx: &mut Ctx<'_>, iface: IfaceId) -> bool {
        let f = self.iface(iface);
        let Some(ra) = &f.ra else {
            return false;
        };
        let (src, mac) = (f.link_local, f.mac);
        self.emit_on(
            cx,
            iface,
            ipv6::multicast_mac(&ALL_NODES),
            0x86dd,
            &mut |b: &mut [u8]| ndp_message(b, src, ALL_NODES, |msg| write_ra(msg, ra, mac)),
        )
    }

    /// ip6-local for a Router Solicitation (checksum already verified):
    /// § 6.1.1 validation, the sender's link-layer address into the
    /// neighbour cache (§ 6.2.6), and an RA scheduled if the interface
    /// advertises.
    pub(crate) fn router_solicit(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &Packet<'_>,
        src: Ipv6Addr,
        hops: u8,
    ) -> Verdict {
        let iface = p.meta.iface;
        let rs = match p
            .data()
            .get(p.meta.l4 as usize..)
            .map(RouterSolicit::new_checked)
        {
            Some(Ok(rs)) => rs,
            Some(Err(crate::wire::ndp::NdpError::Truncated)) => {
                return Verdict::Drop(DropReason::NdpTruncated)
            }
            _ => return Verdict::Drop(DropReason::NdpInvalid),
        };
        if hops != 255 || rs.options().check().is_err() {
            return Verdict::Drop(DropReason::NdpInvalid);
        }
        let slla = rs.source_lladdr();
        if src.is_unspecified() && slla.is_some() {
            return Verdict::Drop(DropReason::NdpInvalid);
        }
        if slla.is_some_and(|l| self.bad_lladdr(l)) {
            return Verdict::Drop(DropReason::NdpBadLladdr);
        }
        if let (false, Some(mac)) = (src.is_unspecified(), slla) {
            let key = Key {
                iface,
                ip: IpAddr::V6(src),
            };
            self.learned(cx, key, mac, false, true, true);
        }
        if self.iface(iface).ra.is_some() {
            self.ra.solicited(iface as usize, cx.now_ns);
        }
        Verdict::Local
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::spec::{Pref64Spec, RdnssSpec, RouterSpec};
    use crate::wire::icmpv6;
    use crate::wire::ndp::{opt, NdpOption, PrefixInfo, RouterAdvert};
    use crate::{CollectEmit, Pipeline, PortId};
    use etherparse::{
        Icmpv6Type, LinkSlice, NetSlice, PacketBuilder, SlicedPacket, TransportSlice,
    };

    const MAC0: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
    const MAC1: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);
    const HOST: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];

    fn ip(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn ra_spec() -> RaSpec {
        RaSpec {
            mtu: Some(1500),
            prefixes: vec![PrefixInfo {
                prefix_len: 64,
                on_link: true,
                autonomous: true,
                valid_lifetime: 2_592_000,
                preferred_lifetime: 604_800,
                prefix: ip("2001:db8:1::"),
            }],
            rdnss: Some(RdnssSpec {
                servers: vec![ip("2001:db8::53"), ip("2001:db8::54")],
                lifetime: 1800,
            }),
            pref64: Some(Pref64Spec {
                prefix: ip("64:ff9b::"),
                len: 96,
                lifetime: 600,
            }),
            ..RaSpec::default()
        }
    }

    fn spec(ra: Option<RaSpec>) -> RouterSpec {
        RouterSpec {
            ifaces: vec![
                IfaceSpec {
                    name: "lan".into(),
                    port: PortId(0),
                    mac: MAC0,
                    ipv6: vec![(ip("2001:db8:1::1"), 64)],
                    link_local: ip("fe80::1"),
                    ra,
                    ..IfaceSpec::default()
                },
                IfaceSpec {
                    name: "wan".into(),
                    port: PortId(1),
                    mac: MAC1,
                    ipv6: vec![(ip("2001:db8:2::1"), 64)],
                    link_local: ip("fe80::2"),
                    ..IfaceSpec::default()
                },
            ],
            ..RouterSpec::default()
        }
    }

    /// The RAs among `frames`.
    fn ras(frames: &[(PortId, Vec<u8>)]) -> Vec<(PortId, Vec<u8>)> {
        frames
            .iter()
            .filter(|(_, f)| f.len() > 54 && f[12..14] == [0x86, 0xdd] && f[54] == icmpv6::RA)
            .cloned()
            .collect()
    }

    fn tick(r: &mut dyn Pipeline, now: u64) -> Vec<(PortId, Vec<u8>)> {
        let mut e = CollectEmit::default();
        r.tick(&mut Ctx::new(now, &mut e));
        ras(&e.frames)
    }

    /// Runs one frame received on `port` through the router.
    fn rx(r: &mut dyn Pipeline, now: u64, port: u16, frame: &[u8]) -> Verdict {
        let mut buf = vec![0u8; 2048];
        buf[256..256 + frame.len()].copy_from_slice(frame);
        let mut pkts = [Packet::new(&mut buf, 256, frame.len() as u32, PortId(port)).unwrap()];
        let mut v = [Verdict::Local];
        let mut e = CollectEmit::default();
        r.process(&mut Ctx::new(now, &mut e), &mut pkts, &mut v);
        v[0]
    }

    /// A Router Solicitation from `src` (with an SLLA unless `src` is ::).
    fn rs(src: &str, hops: u8) -> Vec<u8> {
        let s = ip(src);
        let opts: Vec<u8> = if s.is_unspecified() {
            vec![]
        } else {
            [&[1u8, 1][..], &HOST].concat()
        };
        let b = PacketBuilder::ethernet2(HOST, [0x33, 0x33, 0, 0, 0, 2])
            .ipv6(s.octets(), ip("ff02::2").octets(), hops)
            .icmpv6(Icmpv6Type::RouterSolicitation);
        let mut out = Vec::new();
        b.write(&mut out, &opts).unwrap();
        out
    }

    const S: u64 = SEC;

    /// Recomputes the ICMPv6 checksum of an edited frame.
    fn refill(f: &mut [u8]) {
        let src = Ipv6Addr::from(<[u8; 16]>::try_from(&f[22..38]).unwrap());
        let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&f[38..54]).unwrap());
        icmpv6::Packet::new_checked(&mut f[54..])
            .unwrap()
            .fill_checksum(src, dst);
    }

    /// Every byte of the RA xgw sends, read back with etherparse (outer
    /// headers, ICMPv6 checksum) and with the wire views.
    #[test]
    fn ra_bytes_parse_back() {
        let mut r = super::super::build(&spec(Some(ra_spec()))).unwrap();
        let got = tick(r.as_mut(), 5 * S);
        assert_eq!(got.len(), 1, "one RA, on the advertising interface only");
        let (port, f) = &got[0];
        assert_eq!(*port, PortId(0));

        let pkt = SlicedPacket::from_ethernet(f).unwrap();
        let Some(LinkSlice::Ethernet2(eth)) = &pkt.link else {
            panic!("Ethernet II expected")
        };
        assert_eq!(eth.destination(), [0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(eth.source(), MAC0.0);
        let Some(NetSlice::Ipv6(v6)) = &pkt.net else {
            panic!("IPv6 expected")
        };
        let h = v6.header();
        assert_eq!(h.hop_limit(), 255);
        assert_eq!(h.source_addr(), ip("fe80::1"));
        assert_eq!(h.destination_addr(), ip("ff02::1"));
        assert_eq!(h.next_header().0, 58);
        let Some(TransportSlice::Icmpv6(icmp)) = &pkt.transport else {
            panic!("ICMPv6 expected")
        };
        assert!(icmp.is_checksum_valid(h.source(), h.destination()));
        let Icmpv6Type::RouterAdvertisement(hdr) = icmp.icmp_type() else {
            panic!("RA expected, got {:?}", icmp.icmp_type())
        };
        assert_eq!(
            (
                hdr.cur_hop_limit,
                hdr.managed_address_config,
                hdr.other_config,
                hdr.router_lifetime
            ),
            (64, false, false, 1800)
        );

        let msg = &f[54..];
        assert_eq!(msg.len(), ra_spec().message_len());
        assert_eq!(h.payload_length() as usize, msg.len());
        assert!(icmpv6::Packet::new_checked(msg)
            .unwrap()
            .verify_checksum(ip("fe80::1"), ip("ff02::1")));
        let ra = RouterAdvert::new_checked(msg).unwrap();
        assert_eq!(
            (
                ra.cur_hop_limit(),
                ra.router_lifetime(),
                ra.reachable_time(),
                ra.retrans_timer()
            ),
            (64, 1800, 0, 0)
        );
        assert_eq!(msg[4..16], [64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0]);
        let opts = &msg[16..];
        #[rustfmt::skip]
        let want: &[u8] = &[
            0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // SLLA 02:00:00:00:00:01
            0x05, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05, 0xdc, // MTU 1500
            0x03, 0x04, 0x40, 0xc0, // PIO /64, L A
            0x00, 0x27, 0x8d, 0x00, // valid 2592000
            0x00, 0x09, 0x3a, 0x80, // preferred 604800
            0x00, 0x00, 0x00, 0x00, // reserved
            0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x00, 0x00, // 2001:db8:1::
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x19, 0x05, 0x00, 0x00, 0x00, 0x00, 0x07, 0x08, // RDNSS, 2 servers, 1800 s
            0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, // 2001:db8::53
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x53,
            0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, // 2001:db8::54
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x54,
            // PREF64 (RFC 8781 § 4): 64:ff9b::/96, 600 s -> scaled
            // lifetime 75 (600 / 8), PLC 0 -> 75 << 3 | 0 = 0x0258
            0x26, 0x02, 0x02, 0x58,
            0x00, 0x64, 0xff, 0x9b, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00,
        ];
        assert_eq!(opts, want);
        let parsed: Vec<NdpOption<'_>> = ra.options().map(Result::unwrap).collect();
        assert_eq!(parsed.len(), 5);
        assert_eq!(parsed[0], NdpOption::SourceLinkLayerAddr(MAC0));
        assert_eq!(parsed[1], NdpOption::Mtu(1500));
        assert_eq!(
            parsed[2],
            NdpOption::PrefixInformation(ra_spec().prefixes[0])
        );
        let NdpOption::Rdnss(d) = parsed[3] else {
            panic!("RDNSS expected")
        };
        assert_eq!(d.lifetime, 1800);
        assert_eq!(
            d.addresses().collect::<Vec<_>>(),
            [ip("2001:db8::53"), ip("2001:db8::54")]
        );
        let NdpOption::Pref64(p) = parsed[4] else {
            panic!("PREF64 expected")
        };
        assert_eq!(
            (p.scaled_lifetime, p.plc, p.prefix_len(), p.prefix),
            (75, 0, Some(96), ip("64:ff9b::"))
        );
    }

    /// RFC 8781 § 4 encodings for every prefix length, with the lifetime
    /// rounded up to 8 s and the flags/options of a non-default router.
    #[test]
    fn pref64_lengths_flags_and_no_options() {
        for (len, plc, prefix) in [
            (96, 0, "64:ff9b::"),
            (64, 1, "2001:db8:1:2::"),
            (56, 2, "2001:db8:1:200::"),
            (48, 3, "2001:db8:1::"),
            (40, 4, "2001:db8:100::"),
            (32, 5, "2001:db8::"),
        ] {
            let ra = RaSpec {
                hop_limit: 0,
                managed: true,
                other_config: true,
                router_lifetime: 0,
                reachable_time: 30_000,
                retrans_timer: 1_000,
                pref64: Some(Pref64Spec {
                    prefix: ip(prefix),
                    len,
                    lifetime: 601,
                }),
                ..RaSpec::default()
            };
            let mut b = [0u8; 64];
            let n = write_ra(&mut b, &ra, MAC0).unwrap();
            assert_eq!(n, 16 + 8 + 16);
            assert_eq!(n, ra.message_len());
            assert_eq!(
                b[4..16],
                [0, 0xc0, 0, 0, 0, 0, 0x75, 0x30, 0, 0, 0x03, 0xe8]
            );
            let o = &b[24..40];
            assert_eq!(o[..2], [opt::PREF64, 2]);
            // 601 s -> 76 units (608 s)
            assert_eq!(u16::from_be_bytes([o[2], o[3]]), (76 << 3) | plc);
            assert_eq!(o[4..16], ip(prefix).octets()[..12]);
        }
        assert_eq!(write_ra(&mut [0u8; 31], &ra_spec_small(), MAC0), None);
    }

    fn ra_spec_small() -> RaSpec {
        RaSpec {
            mtu: Some(1280),
            ..RaSpec::default()
        }
    }

    #[test]
    fn unsolicited_schedule() {
        let spec_ra = ra_spec(); // 198..600 s
        let mut r = super::super::build(&spec(Some(spec_ra))).unwrap();
        let t0 = 100 * S;
        assert_eq!(tick(r.as_mut(), t0).len(), 1, "first RA at start");
        assert!(tick(r.as_mut(), t0 + S).is_empty());
        // the next two at MAX_INITIAL_RTR_ADVERT_INTERVAL (the random
        // interval, >= 198 s, is capped at 16 s)
        assert!(tick(r.as_mut(), t0 + 16 * S - 1).is_empty());
        assert_eq!(tick(r.as_mut(), t0 + 16 * S).len(), 1);
        assert!(tick(r.as_mut(), t0 + 31 * S).is_empty());
        assert_eq!(tick(r.as_mut(), t0 + 32 * S).len(), 1);
        // then between MinRtrAdvInterval and MaxRtrAdvInterval
        let mut t = t0 + 32 * S;
        let mut when = Vec::new();
        while when.len() < 5 {
            t += S;
            if !tick(r.as_mut(), t).is_empty() {
                when.push(t);
            }
        }
        let mut prev = t0 + 32 * S;
        for w in when {
            let d = w - prev;
            assert!((198 * S..=601 * S).contains(&d), "interval {d}");
            prev = w;
        }
    }

    #[test]
    fn solicitation_answered_rate_limited() {
        let mut r = super::super::build(&spec(Some(ra_spec()))).unwrap();
        let t0 = 10 * S;
        assert_eq!(tick(r.as_mut(), t0).len(), 1);
        // Within MIN_DELAY_BETWEEN_RAS of the initial RA: answered at
        // t0 + 3 s + [0, 0.5 s].
        assert_eq!(
            rx(r.as_mut(), t0 + S, 0, &rs("fe80::99", 255)),
            Verdict::Local
        );
        assert!(tick(r.as_mut(), t0 + 3 * S - 1).is_empty());
        assert_eq!(tick(r.as_mut(), t0 + 3 * S + SEC / 2).len(), 1);
        // A second one, long after: within 0.5 s.
        let t1 = t0 + 10 * S;
        assert_eq!(rx(r.as_mut(), t1, 0, &rs("::", 255)), Verdict::Local);
        assert_eq!(tick(r.as_mut(), t1 + SEC / 2).len(), 1);
        // A burst of solicitations: one RA, 3 s after the previous.
        for k in 0..20 {
            rx(
                r.as_mut(),
                t1 + SEC / 2 + k * 1_000_000,
                0,
                &rs("fe80::99", 255),
            );
        }
        let mut n = 0;
        for k in 1..=40 {
            let got = tick(r.as_mut(), t1 + SEC / 2 + k * 100_000_000).len();
            if got > 0 {
                assert!(k * 100_000_000 >= 3 * S, "too soon: {k}");
            }
            n += got;
        }
        assert_eq!(n, 1);
        // The next unsolicited one is still at t0 + 16 s; the solicited RAs
        // reset it, so none is due right after.
        assert!(tick(r.as_mut(), t0 + 16 * S).is_empty());
    }

    #[test]
    fn invalid_solicitations_and_non_advertising_interface() {
        let mut r = super::super::build(&spec(Some(ra_spec()))).unwrap();
        tick(r.as_mut(), S);
        let ndp_invalid = Verdict::Drop(DropReason::NdpInvalid);
        assert_eq!(rx(r.as_mut(), 5 * S, 0, &rs("fe80::99", 254)), ndp_invalid);
        // unspecified source with an SLLA option
        let mut f = rs("fe80::99", 255);
        f[22..38].fill(0);
        refill(&mut f);
        assert_eq!(rx(r.as_mut(), 5 * S, 0, &f), ndp_invalid);
        // an option of length zero
        let mut f = rs("fe80::99", 255);
        f[63] = 0;
        refill(&mut f);
        assert_eq!(rx(r.as_mut(), 5 * S, 0, &f), ndp_invalid);
        // a non-zero code
        let mut f = rs("fe80::99", 255);
        f[55] = 1;
        refill(&mut f);
        assert_eq!(rx(r.as_mut(), 5 * S, 0, &f), ndp_invalid);
        assert!(tick(r.as_mut(), 6 * S).is_empty(), "none answered");
        // on the interface without RAs: accepted, not answered
        let mut f = rs("fe80::99", 255);
        f[0..6].copy_from_slice(&[0x33, 0x33, 0, 0, 0, 2]);
        assert_eq!(rx(r.as_mut(), 7 * S, 1, &f), Verdict::Local);
        for k in 0..10 {
            assert!(tick(r.as_mut(), 7 * S + k * SEC / 2).is_empty());
        }
    }

    /// Only worker 0 advertises unsolicited; the others answer what they
    /// receive.
    #[test]
    fn other_workers_only_answer() {
        let s = spec(Some(ra_spec()));
        let mut t = RaTimers::new(&s.ifaces, 1);
        t.start(&s.ifaces, S);
        assert_eq!(t.ifaces[0].due(), None);
        t.solicited(0, 2 * S);
        let d = t.ifaces[0].due().unwrap();
        assert!((2 * S..=2 * S + MAX_RA_DELAY_TIME_NS).contains(&d));
        t.sent(0, d, s.ifaces[0].ra.as_ref().unwrap());
        assert_eq!(t.ifaces[0].due(), None, "no periodic RA on worker 1");
        let mut t0 = RaTimers::new(&s.ifaces, 0);
        t0.start(&s.ifaces, S);
        assert_eq!(t0.ifaces[0].due(), Some(S));
        assert_eq!(t0.ifaces[1].due(), None, "wan does not advertise");
    }
}
