//! Ports: where frames come from and go to.
//!
//! A port is configured once; each worker owns one *queue* of it. Queues
//! are an enum rather than trait objects so the worker's loop calls them
//! statically and tests can reach into a mem queue directly.

pub mod afxdp;
pub mod mem;
pub mod pcap;

use crate::umem::{Desc, FramePool};

/// Kernel-side AF_XDP socket counters (`XDP_STATISTICS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct XskStats {
    /// Frames dropped by the kernel for reasons other than a full ring.
    pub rx_dropped: u64,
    pub rx_invalid: u64,
    pub tx_invalid: u64,
    /// Frames dropped because our RX ring was full.
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty.
    pub rx_fill_ring_empty: u64,
    pub tx_ring_empty: u64,
}

impl std::ops::AddAssign for XskStats {
    fn add_assign(&mut self, o: Self) {
        self.rx_dropped += o.rx_dropped;
        self.rx_invalid += o.rx_invalid;
        self.tx_invalid += o.tx_invalid;
        self.rx_ring_full += o.rx_ring_full;
        self.rx_fill_ring_empty += o.rx_fill_ring_empty;
        self.tx_ring_empty += o.tx_ring_empty;
    }
}

/// One worker's queue of one port.
pub enum PortQueue {
    AfXdp(afxdp::XskQueue),
    Mem(mem::MemQueue),
    Pcap(pcap::PcapQueue),
}

impl PortQueue {
    /// Reaps TX completions into the pool and refills the RX side from it.
    #[inline]
    pub fn service(&mut self, pool: &mut FramePool) {
        match self {
            PortQueue::AfXdp(q) => q.service(pool),
            PortQueue::Mem(_) | PortQueue::Pcap(_) => {}
        }
    }

    /// Receives up to `out.len()` frames.
    #[inline]
    pub fn rx(&mut self, pool: &mut FramePool, out: &mut [Desc]) -> usize {
        match self {
            PortQueue::AfXdp(q) => q.rx(out),
            PortQueue::Mem(q) => q.rx(out),
            PortQueue::Pcap(q) => q.rx(pool, out),
        }
    }

    /// Queues frames for transmission; returns how many (a prefix of
    /// `descs`) were taken. The caller still owns the rest.
    #[inline]
    pub fn tx(&mut self, pool: &mut FramePool, descs: &[Desc]) -> usize {
        match self {
            PortQueue::AfXdp(q) => q.tx(pool, descs),
            PortQueue::Mem(q) => q.tx(descs),
            PortQueue::Pcap(q) => q.tx(pool, descs),
        }
    }

    /// Frames this queue holds right now (fill/RX/TX/completion rings, or
    /// a mem/pcap queue's buffers).
    pub fn outstanding(&self) -> usize {
        match self {
            PortQueue::AfXdp(q) => q.outstanding(),
            PortQueue::Mem(q) => q.outstanding(),
            PortQueue::Pcap(_) => 0,
        }
    }

    /// True once a finite source (a capture) has nothing more to give.
    pub fn exhausted(&self) -> bool {
        match self {
            PortQueue::Pcap(q) => q.exhausted(),
            _ => false,
        }
    }

    /// Raw fd to wait on when idle, if the queue has one.
    pub fn poll_fd(&self) -> Option<i32> {
        match self {
            PortQueue::AfXdp(q) => Some(q.fd()),
            _ => None,
        }
    }

    /// Best effort at shutdown: take back every frame the queue can give
    /// (mem queues' buffers, completed TX). Frames still inside the kernel
    /// are counted by `outstanding`.
    pub fn drain(&mut self, pool: &mut FramePool) {
        match self {
            PortQueue::AfXdp(q) => q.service(pool),
            PortQueue::Mem(q) => q.drain(pool),
            PortQueue::Pcap(q) => q.flush(),
        }
    }
}
