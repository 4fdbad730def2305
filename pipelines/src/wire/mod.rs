//! Zero-copy views of the headers xgw reads and rewrites in place.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod gtpu;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod ndp;
pub mod tcp;
pub mod udp;
pub mod vlan;
