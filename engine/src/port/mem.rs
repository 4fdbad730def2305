//! The in-memory port: frames with UMEM geometry and no I/O, for tests and
//! benchmarks. Its RX side is a queue the owner fills (`inject`); its TX
//! side either collects frames (`take_tx`) or, in loopback mode, feeds
//! them back into its own RX queue so a fixed set of frames circulates
//! through the pipeline without any copy (how benchmarks measure the
//! runtime alone).

use std::collections::VecDeque;

use crate::umem::{Desc, FramePool};

pub struct MemQueue {
    rx: VecDeque<Desc>,
    tx: VecDeque<Desc>,
    capacity: usize,
    loopback: bool,
}

impl MemQueue {
    /// A queue whose RX and TX buffers hold `capacity` frames each
    /// (allocated here, never grown).
    pub fn new(capacity: usize, loopback: bool) -> Self {
        MemQueue {
            rx: VecDeque::with_capacity(capacity),
            tx: VecDeque::with_capacity(capacity),
            capacity,
            loopback,
        }
    }

    /// Copies `bytes` into a fresh frame and queues it for RX. `false` if
    /// no frame is free, the bytes do not fit, or the RX queue is full.
    pub fn inject(&mut self, pool: &mut FramePool, bytes: &[u8]) -> bool {
        if self.rx.len() >= self.capacity {
            return false;
        }
        match pool.alloc_with(bytes) {
            Some(d) => {
                self.rx.push_back(d);
                true
            }
            None => false,
        }
    }

    /// Queues an already filled frame for RX (the caller gives up owning it).
    pub fn inject_desc(&mut self, d: Desc) -> bool {
        if self.rx.len() >= self.capacity {
            return false;
        }
        self.rx.push_back(d);
        true
    }

    #[inline]
    pub fn rx(&mut self, out: &mut [Desc]) -> usize {
        let n = out.len().min(self.rx.len());
        let (a, b) = self.rx.as_slices();
        let k = n.min(a.len());
        out[..k].copy_from_slice(&a[..k]);
        out[k..n].copy_from_slice(&b[..n - k]);
        self.rx.drain(..n);
        n
    }

    #[inline]
    pub fn tx(&mut self, descs: &[Desc]) -> usize {
        let q = if self.loopback {
            &mut self.rx
        } else {
            &mut self.tx
        };
        let n = descs.len().min(self.capacity - q.len());
        q.extend(&descs[..n]);
        n
    }

    /// Hands every transmitted frame to `f` (data bytes) and frees it.
    pub fn take_tx(&mut self, pool: &mut FramePool, mut f: impl FnMut(&[u8])) -> usize {
        let n = self.tx.len();
        while let Some(d) = self.tx.pop_front() {
            // SAFETY: the frame was handed to this queue by `tx`, so the
            // queue owns it until it is released just below.
            f(unsafe { pool.bytes(d) });
            pool.release(d.addr);
        }
        n
    }

    pub fn rx_len(&self) -> usize {
        self.rx.len()
    }

    pub fn tx_len(&self) -> usize {
        self.tx.len()
    }

    pub fn outstanding(&self) -> usize {
        self.rx.len() + self.tx.len()
    }

    pub fn drain(&mut self, pool: &mut FramePool) {
        for d in self.rx.drain(..).chain(self.tx.drain(..)) {
            pool.release(d.addr);
        }
    }
}
