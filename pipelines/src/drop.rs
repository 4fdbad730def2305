//! Every reason xgw drops a frame, declared once.
//!
//! Each reason has a stable dotted name (used in `xgw stats`, JSON output
//! and Prometheus labels, so never renamed) and one sentence for operators.
//! Counters are kept per worker and per ingress port, indexed by
//! [`DropReason::index`].

macro_rules! drop_reasons {
    ($( $(#[$m:meta])* $variant:ident = $name:literal : $desc:literal ,)*) => {
        /// Why a frame was dropped.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum DropReason {
            $( $(#[$m])* $variant, )*
        }

        impl DropReason {
            /// All reasons, in counter-index order.
            pub const ALL: &'static [DropReason] = &[$(DropReason::$variant,)*];
            /// Number of reasons (size of a per-port counter row).
            pub const COUNT: usize = Self::ALL.len();

            /// Stable dotted name, e.g. `l2.runt`.
            pub const fn name(self) -> &'static str {
                match self { $(DropReason::$variant => $name,)* }
            }

            /// One sentence saying what happened to the frame.
            pub const fn description(self) -> &'static str {
                match self { $(DropReason::$variant => $desc,)* }
            }
        }
    };
}

drop_reasons! {
    /// Frame too short to hold an Ethernet header.
    L2Runt = "l2.runt": "frame shorter than an Ethernet header (14 bytes)",
    /// The L2 forwarder has no cross-connect for the ingress port.
    L2NoCrossConnect = "l2.no_cross_connect": "frame arrived on a port that no cross-connect serves",
    /// The egress TX ring was full when the burst was flushed.
    TxRingFull = "tx.ring_full": "the egress port's TX ring had no free slot for the frame",
    /// A verdict named a port that does not exist (pipeline bug).
    TxNoSuchPort = "tx.no_such_port": "a stage sent the frame to a port that is not configured (internal error)",
    /// A stage named a next stage that does not come after it.
    PipelineBadNext = "pipeline.bad_next": "a stage named a next stage that does not follow it (internal error)",
    /// A frame read from a capture does not fit in a UMEM chunk.
    RxOversize = "rx.oversize": "frame larger than a UMEM chunk minus headroom (captures only; AF_XDP enforces it in the kernel)",
    /// The worker's lot for parked frames was full.
    PendingFull = "pending.full": "a frame had to wait (e.g. for neighbour resolution) but the worker's pending lot was full",
    /// The engine was stopping and frames still queued for TX were released.
    ShutdownFlush = "engine.shutdown": "frame still queued inside xgw when the engine stopped",
}

impl DropReason {
    /// Position of this reason in a counter row.
    #[inline]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Looks a reason up by its dotted name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_dotted_and_described() {
        let mut seen = HashSet::new();
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
            assert!(seen.insert(r.name()), "duplicate name {}", r.name());
            let (area, what) = r.name().split_once('.').expect("dotted");
            assert!(!area.is_empty() && !what.is_empty());
            assert!(r
                .name()
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_'));
            assert!(r.description().len() > 10);
            assert_eq!(DropReason::from_name(r.name()), Some(*r));
        }
        assert_eq!(DropReason::COUNT, DropReason::ALL.len());
        assert_eq!(DropReason::from_name("no.such"), None);
    }
}
