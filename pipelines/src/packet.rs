//! A frame of the current burst as stages and nodes see it.
//!
//! The engine lends the pipeline a `Packet` per frame: the whole UMEM chunk
//! (headroom, data, tailroom) and the data window inside it. Prepending an
//! outer header moves the window's start into the headroom; stripping one
//! moves it forward. No byte is copied to do either.

use core::fmt;

/// Index of a configured port (its position in the config's port list).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PortId(pub u16);

impl PortId {
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Debug for PortId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "port#{}", self.0)
    }
}

/// What parsing learned about a frame, and what later nodes add. In the
/// router, ethernet-input and then ip4-input / ip6-input fill it in (again
/// for a decapsulated packet input anew; the fast path writes the same
/// for the frames it handles), and the nodes after them read it and add
/// to it (flags, the next hop). Offsets are from the start of the frame's
/// data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// Offset of the L3 header (after Ethernet and any VLAN tag).
    pub l3: u16,
    /// Offset of the L4 header (after IPv4 options or IPv6 extension
    /// headers); 0 when there is none or it was not reached.
    pub l4: u16,
    /// EtherType of the L3 payload (inner one for VLAN-tagged frames).
    pub ethertype: u16,
    /// 802.1Q VLAN ID; 0 for untagged frames.
    pub vlan: u16,
    /// Logical interface the frame arrived on (port + VLAN).
    pub iface: u16,
    /// IPv4 protocol / IPv6 upper-layer protocol.
    pub proto: u8,
    /// `meta::*` flags.
    pub flags: u8,
    /// Next hop chosen by the FIB: written by ip4-lookup / ip6-lookup (or
    /// the fast path), read by the egress interface's output node
    /// (ip-rewrite, ipip-encap), and kept while a frame is parked.
    pub nh: u32,
    /// Per-feature data, owned by the feature whose nodes the frame is in
    /// (GTP-U: TEID and session index; NAT64: the binding), so a feature
    /// never grows the common fields above. A feature's node writes it
    /// before sending the frame along and its own nodes read it; generic
    /// nodes neither read nor clear it.
    pub feature: FeatureData,
}

/// The per-feature words of a frame's [`Meta`]: four 32-bit words whose
/// meaning each feature defines for its own nodes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeatureData(pub [u32; 4]);

impl Meta {
    /// The frame is an IP fragment.
    pub const FRAGMENT: u8 = 1 << 0;
    /// Addressed to one of our own addresses.
    pub const TO_US: u8 = 1 << 1;
    /// Destination MAC is broadcast or multicast.
    pub const L2_MULTICAST: u8 = 1 << 2;
    /// Destination IP is multicast (or IPv4 broadcast).
    pub const L3_MULTICAST: u8 = 1 << 3;
    /// Made or rewritten by xgw itself (an echo reply, an ICMP error): not
    /// subject to TTL decrement, reverse-path checks or further ICMP errors.
    pub const ORIGINATED: u8 = 1 << 4;
    /// Larger than the egress MTU with DF clear: fragment on the way out.
    pub const NEEDS_FRAG: u8 = 1 << 5;
    /// Decapsulated from a tunnel (its ingress interface is the tunnel):
    /// never decapsulated again.
    pub const DECAPPED: u8 = 1 << 6;
}

/// One frame: a view into its chunk plus the metadata stages and nodes
/// fill in.
pub struct Packet<'a> {
    chunk: &'a mut [u8],
    head: u32,
    len: u32,
    /// Port the frame arrived on.
    pub port: PortId,
    /// Parse results (zeroed on arrival).
    pub meta: Meta,
}

impl<'a> Packet<'a> {
    /// Wraps a chunk whose data window is `chunk[head..head + len]`.
    /// Returns `None` when the window does not fit in the chunk.
    #[inline]
    pub fn new(chunk: &'a mut [u8], head: u32, len: u32, port: PortId) -> Option<Self> {
        let end = (head as usize).checked_add(len as usize)?;
        if end > chunk.len() {
            return None;
        }
        Some(Packet {
            chunk,
            head,
            len,
            port,
            meta: Meta::default(),
        })
    }

    /// Wraps a chunk with the window `chunk[head..head + len]` clamped into
    /// it (a window that does not fit is cut short, never rejected), and
    /// metadata `meta`. What the engine uses for every received frame.
    #[inline]
    pub fn clamped(chunk: &'a mut [u8], head: u32, len: u32, port: PortId, meta: Meta) -> Self {
        let size = chunk.len().min(u32::MAX as usize) as u32;
        let head = head.min(size);
        let len = len.min(size - head);
        Packet {
            chunk,
            head,
            len,
            port,
            meta,
        }
    }

    /// Offset of the first data byte inside the chunk.
    #[inline(always)]
    pub fn head(&self) -> u32 {
        self.head
    }

    /// Length of the frame in bytes.
    #[inline(always)]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// The frame's bytes.
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        &self.chunk[self.head as usize..(self.head + self.len) as usize]
    }

    /// The frame's bytes, writable.
    #[inline(always)]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.chunk[self.head as usize..(self.head + self.len) as usize]
    }

    /// Bytes free in front of the frame.
    #[inline]
    pub fn headroom(&self) -> usize {
        self.head as usize
    }

    /// Bytes free behind the frame.
    #[inline]
    pub fn tailroom(&self) -> usize {
        self.chunk.len() - (self.head + self.len) as usize
    }

    /// Grows the frame by `n` bytes at the front (into the headroom) and
    /// returns the new first `n` bytes for the caller to fill. `None` if the
    /// headroom is too small; the frame is then unchanged.
    #[inline]
    pub fn push_head(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.head as usize {
            return None;
        }
        self.head -= n as u32;
        self.len += n as u32;
        let h = self.head as usize;
        Some(&mut self.chunk[h..h + n])
    }

    /// Removes `n` bytes from the front (e.g. an outer header). `false` if
    /// the frame is shorter than `n`; the frame is then unchanged.
    #[inline(always)]
    pub fn pull_head(&mut self, n: usize) -> bool {
        if n > self.len as usize {
            return false;
        }
        self.head += n as u32;
        self.len -= n as u32;
        true
    }

    /// Sets the frame length (trim, or grow into the tailroom). `false` if
    /// the new length does not fit in the chunk.
    #[inline(always)]
    pub fn set_len(&mut self, len: usize) -> bool {
        if self.head as usize + len > self.chunk.len() {
            return false;
        }
        self.len = len as u32;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_moves_without_copy() {
        let mut chunk = [0u8; 64];
        chunk[16..20].copy_from_slice(&[1, 2, 3, 4]);
        let mut p = Packet::new(&mut chunk, 16, 4, PortId(0)).unwrap();
        assert_eq!(p.data(), &[1, 2, 3, 4]);
        assert_eq!(p.headroom(), 16);
        assert_eq!(p.tailroom(), 44);
        p.push_head(2).unwrap().copy_from_slice(&[9, 9]);
        assert_eq!(p.data(), &[9, 9, 1, 2, 3, 4]);
        assert!(p.push_head(15).is_none(), "only 14 bytes of headroom left");
        assert_eq!(p.len(), 6);
        assert!(p.pull_head(3));
        assert_eq!(p.data(), &[2, 3, 4]);
        assert!(!p.pull_head(4));
        assert!(p.set_len(2));
        assert_eq!(p.data(), &[2, 3]);
        assert!(!p.set_len(64));
    }

    #[test]
    fn clamped_cuts_the_window_into_the_chunk() {
        let mut chunk = [0u8; 8];
        let p = Packet::clamped(&mut chunk, 4, 9, PortId(0), Meta::default());
        assert_eq!((p.head(), p.len()), (4, 4));
        let p = Packet::clamped(&mut chunk, 20, 3, PortId(0), Meta::default());
        assert_eq!((p.head(), p.len()), (8, 0));
    }

    #[test]
    fn rejects_window_outside_chunk() {
        let mut chunk = [0u8; 8];
        assert!(Packet::new(&mut chunk, 4, 5, PortId(0)).is_none());
        assert!(Packet::new(&mut chunk, u32::MAX, 2, PortId(0)).is_none());
        assert!(Packet::new(&mut chunk, 4, 4, PortId(0)).is_some());
    }
}
