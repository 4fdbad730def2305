//! IEEE 802.1Q VLAN tags (and 802.1ad service tags).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Destination MAC (6) ...  Source MAC (6) ...  (octets 0..12)  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |      TPID (0x8100/0x88a8)     |  PCP  |D|         VID         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        inner EtherType        |  payload ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!            PCP: Priority Code Point (3 bits), D: Drop Eligible
//!            Indicator, VID: VLAN Identifier (12 bits)
//! ```
//!
//! The tag sits where the untagged EtherType was: pushing a tag moves the
//! two MACs 4 octets towards the head, popping moves them back.

/// Customer VLAN tag, IEEE 802.1Q.
pub const TPID_8021Q: u16 = 0x8100;
/// Service VLAN tag (QinQ outer tag), IEEE 802.1ad.
pub const TPID_8021AD: u16 = 0x88a8;

/// Octets a tag adds to a frame.
pub const TAG_LEN: usize = 4;

/// VID 0: the frame carries only a priority, no VLAN (802.1Q § 9.6).
pub const VID_PRIORITY_ONLY: u16 = 0;
/// VID 0xFFF is reserved and must not be configured or sent.
pub const VID_RESERVED: u16 = 0xfff;

/// Offset of the (outer) EtherType / TPID in an Ethernet frame.
const ETHERTYPE_AT: usize = 12;

/// An EtherType value that announces a VLAN tag.
pub fn is_tpid(ethertype: u16) -> bool {
    ethertype == TPID_8021Q || ethertype == TPID_8021AD
}

/// One VLAN tag and the EtherType that follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VlanTag {
    /// [`TPID_8021Q`] or [`TPID_8021AD`].
    pub tpid: u16,
    /// Priority Code Point, 0..=7.
    pub pcp: u8,
    /// Drop Eligible Indicator.
    pub dei: bool,
    /// VLAN identifier, 0..=4095.
    pub vid: u16,
    /// The EtherType after the tag (another TPID for QinQ).
    pub inner_ethertype: u16,
}

impl VlanTag {
    /// A C-tag for `vid` with priority 0.
    pub fn dot1q(vid: u16, inner_ethertype: u16) -> Self {
        VlanTag {
            tpid: TPID_8021Q,
            pcp: 0,
            dei: false,
            vid: vid & 0x0fff,
            inner_ethertype,
        }
    }

    /// Tag Control Information: PCP(3) | DEI(1) | VID(12).
    pub fn tci(&self) -> u16 {
        (u16::from(self.pcp & 7) << 13) | (u16::from(self.dei) << 12) | (self.vid & 0x0fff)
    }

    /// Splits a TCI.
    pub fn from_tci(tpid: u16, tci: u16, inner_ethertype: u16) -> Self {
        VlanTag {
            tpid,
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
            inner_ethertype,
        }
    }
}

/// Reads the outer tag of an Ethernet `frame` (starting at the destination
/// MAC). `None` when the frame is untagged or too short to hold the tag and
/// the inner EtherType (18 octets).
pub fn parse_tag(frame: &[u8]) -> Option<VlanTag> {
    let b = frame.get(ETHERTYPE_AT..ETHERTYPE_AT + 6)?;
    let tpid = u16::from_be_bytes([b[0], b[1]]);
    if !is_tpid(tpid) {
        return None;
    }
    let tci = u16::from_be_bytes([b[2], b[3]]);
    Some(VlanTag::from_tci(
        tpid,
        tci,
        u16::from_be_bytes([b[4], b[5]]),
    ))
}

/// Writes TPID and TCI: the 4 octets to insert between the source MAC and
/// the EtherType. `inner_ethertype` is not written (it is the EtherType
/// already in the frame).
pub fn write_tag(buf: &mut [u8; 4], tag: VlanTag) {
    let [a, b] = tag.tpid.to_be_bytes();
    let [c, d] = tag.tci().to_be_bytes();
    *buf = [a, b, c, d];
}

#[cfg(test)]
mod tests {
    use super::*;

    // An IPv4 frame on VLAN 100 with priority 5, DEI clear.
    static TAGGED: [u8; 18] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x81, 0x00, 0xa0, 0x64, // TPID 802.1Q, PCP 5, DEI 0, VID 100
        0x08, 0x00, // inner EtherType IPv4
    ];

    fn tag() -> VlanTag {
        VlanTag {
            tpid: TPID_8021Q,
            pcp: 5,
            dei: false,
            vid: 100,
            inner_ethertype: 0x0800,
        }
    }

    #[test]
    fn deconstruct() {
        let t = parse_tag(&TAGGED).unwrap();
        assert_eq!(
            (t.pcp, t.dei, t.vid, t.inner_ethertype),
            (5, false, 100, 0x0800)
        );
        assert_eq!(t.tci(), 0xa064);
    }

    #[test]
    fn construct() {
        let mut t = VlanTag::dot1q(100, 0x0800);
        t.pcp = 5;
        assert_eq!(t, tag());
        assert_eq!(VlanTag::dot1q(0x1064, 0x0800).vid, 100);
    }

    #[test]
    fn parse() {
        assert_eq!(parse_tag(&TAGGED), Some(tag()));
        let mut qinq = TAGGED;
        qinq[12..14].copy_from_slice(&TPID_8021AD.to_be_bytes());
        qinq[14] |= 0x10; // DEI
        qinq[16..18].copy_from_slice(&TPID_8021Q.to_be_bytes());
        let t = parse_tag(&qinq).unwrap();
        assert_eq!(
            (t.tpid, t.dei, t.inner_ethertype),
            (TPID_8021AD, true, TPID_8021Q)
        );
    }

    #[test]
    fn emit() {
        let mut b = [0u8; 4];
        write_tag(&mut b, tag());
        assert_eq!(b, TAGGED[12..16]);
        write_tag(
            &mut b,
            VlanTag {
                pcp: 7,
                dei: true,
                vid: VID_RESERVED,
                ..tag()
            },
        );
        assert_eq!(b, [0x81, 0x00, 0xff, 0xff]);
    }

    #[test]
    fn untagged_and_short() {
        let mut untagged = TAGGED;
        untagged[12..14].copy_from_slice(&[0x08, 0x00]);
        assert_eq!(parse_tag(&untagged), None);
        for n in 0..TAGGED.len() {
            assert_eq!(parse_tag(&TAGGED[..n]), None);
        }
        assert!(is_tpid(0x8100) && is_tpid(0x88a8) && !is_tpid(0x0800));
    }

    #[test]
    fn matches_etherparse() {
        let (h, _) = etherparse::SingleVlanHeader::from_slice(&TAGGED[14..]).unwrap();
        assert_eq!(h.vlan_id.value(), 100);
        assert_eq!(h.pcp.value(), 5);
        assert_eq!(h.ether_type, etherparse::EtherType::IPV4);
    }
}
