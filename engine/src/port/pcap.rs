//! The pcap port: frames read from a capture file become the port's RX;
//! frames transmitted on the port are written to a capture file. It lets
//! `xgw replay` run any pipeline offline, without root.
//!
//! Each output record carries the capture time of the input frame it came
//! from (kept per chunk in the frame pool), so replays are deterministic
//! and byte-exact.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::DataLink;

use crate::umem::{Desc, FramePool};

pub struct PcapQueue {
    reader: Option<PcapReader<BufReader<File>>>,
    writer: Option<PcapWriter<BufWriter<File>>>,
    done: bool,
    /// Records in the input that did not fit a chunk (counted as
    /// `rx.oversize` drops by the worker through `take_oversize`).
    oversize: u64,
    /// First error met while reading or writing, reported at the end.
    pub error: Option<String>,
}

impl PcapQueue {
    /// A port reading `input` (if any) and writing `output` (if any).
    pub fn open(input: Option<&Path>, output: Option<&Path>) -> Result<Self, String> {
        let reader = match input {
            Some(p) => {
                let f = File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
                let r = PcapReader::new(BufReader::new(f))
                    .map_err(|e| format!("{}: not a pcap file: {e}", p.display()))?;
                if r.header().datalink != DataLink::ETHERNET {
                    return Err(format!(
                        "{}: link type {:?}, expected Ethernet",
                        p.display(),
                        r.header().datalink
                    ));
                }
                Some(r)
            }
            None => None,
        };
        let writer = match output {
            Some(p) => {
                let f = File::create(p).map_err(|e| format!("{}: {e}", p.display()))?;
                let hdr = PcapHeader {
                    datalink: DataLink::ETHERNET,
                    snaplen: 65535,
                    endianness: pcap_file::Endianness::Little,
                    ..Default::default()
                };
                Some(
                    PcapWriter::with_header(BufWriter::new(f), hdr)
                        .map_err(|e| format!("{}: {e}", p.display()))?,
                )
            }
            None => None,
        };
        Ok(PcapQueue {
            done: reader.is_none(),
            reader,
            writer,
            oversize: 0,
            error: None,
        })
    }

    pub fn exhausted(&self) -> bool {
        self.done
    }

    /// Oversize records seen since the last call.
    pub fn take_oversize(&mut self) -> u64 {
        std::mem::take(&mut self.oversize)
    }

    pub fn rx(&mut self, pool: &mut FramePool, out: &mut [Desc]) -> usize {
        let Some(r) = self.reader.as_mut() else {
            return 0;
        };
        let mut n = 0;
        while n < out.len() && pool.free_len() > 0 {
            match r.next_packet() {
                None => {
                    self.done = true;
                    break;
                }
                Some(Err(e)) => {
                    self.error
                        .get_or_insert_with(|| format!("reading capture: {e}"));
                    self.done = true;
                    break;
                }
                Some(Ok(pkt)) => match pool.alloc_with(&pkt.data) {
                    Some(d) => {
                        pool.set_stamp(d.addr, pkt.timestamp.as_nanos() as u64);
                        out[n] = d;
                        n += 1;
                    }
                    None => self.oversize += 1,
                },
            }
        }
        n
    }

    pub fn tx(&mut self, pool: &mut FramePool, descs: &[Desc]) -> usize {
        for d in descs {
            if let Some(w) = self.writer.as_mut() {
                // SAFETY: the worker handed us the frame; we own it until
                // it is released below.
                let data = unsafe { pool.bytes(*d) };
                let ts = Duration::from_nanos(pool.stamp(d.addr));
                let rec = PcapPacket::new(ts, data.len() as u32, data);
                if let Err(e) = w.write_packet(&rec) {
                    self.error
                        .get_or_insert_with(|| format!("writing capture: {e}"));
                }
            }
            pool.release(d.addr);
        }
        descs.len()
    }

    pub fn flush(&mut self) {
        if let Some(w) = self.writer.take() {
            let mut inner = w.into_writer();
            if let Err(e) = std::io::Write::flush(&mut inner) {
                self.error
                    .get_or_insert_with(|| format!("writing capture: {e}"));
            }
        }
    }
}
