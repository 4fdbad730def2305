//! L2 cross-connect: every frame from port A leaves on port B and back,
//! the equivalent of DPDK testpmd's `io`, `mac` and `macswap` forwarding.
//! It exists so the runtime can be measured with no protocol work.

use crate::wire::ethernet::{self, Frame, MacAddr};
use crate::{Ctx, DropReason, Packet, PortId, Stage, Verdict, MAX_PORTS};

/// How the Ethernet header is treated on the way through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MacMode {
    /// Leave the frame untouched (testpmd `io`).
    Io,
    /// Source = egress port's MAC, destination = the egress side's peer
    /// (testpmd `mac`).
    Rewrite,
    /// Exchange source and destination (testpmd `macswap`).
    Swap,
}

/// Per-ingress-port decision, precomputed when the stage is built.
#[derive(Clone, Copy)]
struct Xc {
    out: PortId,
    /// Destination and source MAC for `Rewrite` mode: the egress side's
    /// peer, then the egress port's own MAC.
    hdr: [u8; 12],
}

impl Xc {
    fn new(out: &Side) -> Self {
        let mut hdr = [0u8; 12];
        hdr[..6].copy_from_slice(&out.peer.0);
        hdr[6..].copy_from_slice(&out.mac.0);
        Xc { out: out.port, hdr }
    }
}

/// The forwarding stage.
pub struct L2Fwd {
    mode: MacMode,
    xc: [Option<Xc>; MAX_PORTS],
}

/// One side of a cross-connect as configured.
#[derive(Clone, Copy, Debug)]
pub struct Side {
    pub port: PortId,
    /// MAC of the port itself (source on egress in `Rewrite` mode).
    pub mac: MacAddr,
    /// MAC of the host behind the port (destination in `Rewrite` mode).
    pub peer: MacAddr,
}

impl L2Fwd {
    /// Builds the stage from cross-connected pairs. Ports must be below
    /// [`MAX_PORTS`] and appear in at most one pair (config validation
    /// guarantees both).
    pub fn new(mode: MacMode, pairs: &[(Side, Side)]) -> Self {
        let mut xc = [None; MAX_PORTS];
        for (a, b) in pairs {
            xc[a.port.index()] = Some(Xc::new(b));
            xc[b.port.index()] = Some(Xc::new(a));
        }
        L2Fwd { mode, xc }
    }

    /// Forwards all of `pkts` if they share an ingress port with a
    /// cross-connect and none is shorter than an Ethernet header; `false`
    /// (nothing touched) otherwise.
    #[inline]
    fn burst(&self, pkts: &mut [Packet<'_>], verdicts: &mut [Verdict]) -> bool {
        let Some(port) = pkts.first().map(|p| p.port) else {
            return true;
        };
        let Some(xc) = self.xc(port) else {
            return false;
        };
        if !pkts
            .iter()
            .all(|p| p.port == port && p.len() >= ethernet::HEADER_LEN)
        {
            return false;
        }
        if self.mode != MacMode::Io {
            for p in pkts.iter_mut() {
                self.rewrite(&xc, p);
            }
        }
        let n = pkts.len().min(verdicts.len());
        verdicts[..n].fill(Verdict::Tx(xc.out));
        true
    }

    /// The header work of the mode on a frame of at least
    /// [`ethernet::HEADER_LEN`] bytes going out through `xc`.
    #[inline(always)]
    fn rewrite(&self, xc: &Xc, p: &mut Packet<'_>) {
        match self.mode {
            MacMode::Io => {}
            MacMode::Rewrite => {
                if let Some(h) = p.data_mut().first_chunk_mut::<12>() {
                    *h = xc.hdr;
                }
            }
            MacMode::Swap => {
                if let Some(mut f) = Frame::new_checked(p.data_mut()) {
                    f.swap_addrs();
                }
            }
        }
    }

    /// The decision for frames from `port`.
    #[inline]
    fn xc(&self, port: PortId) -> Option<Xc> {
        self.xc.get(port.index()).copied().flatten()
    }
}

impl Stage for L2Fwd {
    fn name(&self) -> &'static str {
        "l2fwd"
    }

    fn drops(&self) -> &'static [DropReason] {
        &[DropReason::L2Runt, DropReason::L2NoCrossConnect]
    }

    fn next(&self) -> &'static [&'static str] {
        &["tx", "drop"]
    }

    fn process(
        &mut self,
        _cx: &mut Ctx<'_>,
        pkts: &mut [Packet<'_>],
        sel: &[u16],
        verdicts: &mut [Verdict],
    ) {
        // The whole burst (stage 0 sees every frame: `sel` is then the
        // identity) from one port, none of it a runt: one decision for all.
        if sel.len() == pkts.len() && self.burst(pkts, verdicts) {
            return;
        }
        // Otherwise frame by frame. The cross-connect is
        // looked up again only when the ingress port changes, so per frame
        // there is a compare, the length check and the MAC writes.
        let runt = Verdict::Drop(DropReason::L2Runt);
        let mut port = None;
        let mut cur: Option<Xc> = None;
        for &i in sel {
            let i = i as usize;
            let (Some(p), Some(v)) = (pkts.get_mut(i), verdicts.get_mut(i)) else {
                continue;
            };
            if port != Some(p.port) {
                port = Some(p.port);
                cur = self.xc(p.port);
            }
            let Some(xc) = cur else {
                *v = Verdict::Drop(DropReason::L2NoCrossConnect);
                continue;
            };
            if p.len() < ethernet::HEADER_LEN {
                *v = runt;
                continue;
            }
            self.rewrite(&xc, p);
            *v = Verdict::Tx(xc.out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(port: u16) -> Side {
        Side {
            port: PortId(port),
            mac: MacAddr([2, 0, 0, 0, port as u8, 1]),
            peer: MacAddr([2, 0, 0, 0, port as u8, 2]),
        }
    }

    fn run(mode: MacMode, frames: &mut [(u16, Vec<u8>)]) -> Vec<Verdict> {
        let mut st = L2Fwd::new(mode, &[(side(0), side(1))]);
        let mut pkts: Vec<Packet<'_>> = frames
            .iter_mut()
            .map(|(port, b)| {
                let l = b.len() as u32;
                Packet::new(b, 0, l, PortId(*port)).unwrap()
            })
            .collect();
        let mut v = vec![Verdict::Local; pkts.len()];
        let sel: Vec<u16> = (0..pkts.len() as u16).collect();
        st.process(
            &mut Ctx::new(0, &mut crate::graph::NoEmit),
            &mut pkts,
            &sel,
            &mut v,
        );
        v
    }

    fn frame() -> Vec<u8> {
        let mut f = vec![0u8; 60];
        f[..6].copy_from_slice(&[0xaa; 6]);
        f[6..12].copy_from_slice(&[0xbb; 6]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f
    }

    #[test]
    fn io_mode_crosses_ports_untouched() {
        let mut frames = vec![(0, frame()), (1, frame())];
        let v = run(MacMode::Io, &mut frames);
        assert_eq!(v, [Verdict::Tx(PortId(1)), Verdict::Tx(PortId(0))]);
        assert_eq!(frames[0].1, frame());
    }

    #[test]
    fn rewrite_mode_uses_egress_mac_and_peer() {
        let mut frames = vec![(0, frame()), (1, frame())];
        run(MacMode::Rewrite, &mut frames);
        // Out of port 1: src = port 1's MAC, dst = port 1's peer.
        assert_eq!(&frames[0].1[..12], &[2, 0, 0, 0, 1, 2, 2, 0, 0, 0, 1, 1]);
        assert_eq!(&frames[1].1[..12], &[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]);
        assert_eq!(&frames[0].1[12..], &frame()[12..]);
    }

    #[test]
    fn swap_mode_and_drops() {
        let mut frames = vec![(0, frame()), (0, vec![0u8; 13]), (5, frame())];
        let v = run(MacMode::Swap, &mut frames);
        assert_eq!(
            &frames[0].1[..12],
            &[0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xbb, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa]
        );
        assert_eq!(v[1], Verdict::Drop(DropReason::L2Runt));
        assert_eq!(v[2], Verdict::Drop(DropReason::L2NoCrossConnect));
    }
}
