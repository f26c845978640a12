//! The RLPx frame codec: `header-ciphertext || header-mac || frame-ciphertext || frame-mac`,
//! one AES-256-CTR stream per direction and keccak MACs (see [`super::mac`]).

use aes::cipher::{KeyIvInit, StreamCipher};

use super::{error::RlpxError, handshake::Secrets, mac::MacState};

type Aes256Ctr = ctr::Ctr64BE<aes::Aes256>;

/// The largest frame the 3-byte size field can declare.
pub const MAX_FRAME_SIZE: usize = (1 << 24) - 1;

/// The header data every frame carries: the RLP of `[capability-id 0, context-id 0]`.
const HEADER_DATA: [u8; 3] = [0xc2, 0x80, 0x80];

const fn padded(len: usize) -> usize {
    len.div_ceil(16) * 16
}

fn cipher(secrets: &Secrets) -> Aes256Ctr {
    Aes256Ctr::new(secrets.aes_secret.as_slice().into(), &[0u8; 16].into())
}

/// Builds the egress encoder and the ingress decoder of an established connection; frames
/// larger than `max_frame` are refused in both directions.
pub fn frame_codecs(secrets: &Secrets, max_frame: usize) -> (FrameEncoder, FrameDecoder) {
    let max_frame = max_frame.min(MAX_FRAME_SIZE);
    let encoder = FrameEncoder {
        cipher: cipher(secrets),
        mac: MacState::new(&secrets.mac_secret, secrets.egress_mac()),
        max_frame,
    };
    let decoder = FrameDecoder {
        cipher: cipher(secrets),
        mac: MacState::new(&secrets.mac_secret, secrets.ingress_mac()),
        max_frame,
        buffer: Vec::new(),
        start: 0,
        pending_body: None,
        failed: false,
    };
    (encoder, decoder)
}

/// Seals frames for sending.
pub struct FrameEncoder {
    cipher: Aes256Ctr,
    mac: MacState,
    max_frame: usize,
}

impl std::fmt::Debug for FrameEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameEncoder").field("max_frame", &self.max_frame).finish_non_exhaustive()
    }
}

impl FrameEncoder {
    /// Appends one frame carrying `payload` (`rlp(message-id) || message-data`) to `out`.
    pub fn encode(&mut self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), RlpxError> {
        if payload.is_empty() {
            return Err(RlpxError::EmptyFrame);
        }
        if payload.len() > self.max_frame {
            return Err(RlpxError::FrameTooLarge { len: payload.len(), max: self.max_frame });
        }
        out.reserve(32 + padded(payload.len()) + 16);
        let mut header = [0u8; 16];
        let size = u32::try_from(payload.len()).unwrap_or(u32::MAX).to_be_bytes();
        header[..3].copy_from_slice(&size[1..]);
        header[3..6].copy_from_slice(&HEADER_DATA);
        self.cipher.apply_keystream(&mut header);
        self.mac.update_header(&header);
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.mac.digest());
        let start = out.len();
        out.extend_from_slice(payload);
        out.resize(start + padded(payload.len()), 0);
        self.cipher.apply_keystream(&mut out[start..]);
        self.mac.update_body(&out[start..]);
        out.extend_from_slice(&self.mac.digest());
        Ok(())
    }
}

/// Opens frames from received bytes: feed bytes with [`Self::feed`], then call
/// [`Self::next_frame`] until it returns `None`.
pub struct FrameDecoder {
    cipher: Aes256Ctr,
    mac: MacState,
    max_frame: usize,
    buffer: Vec<u8>,
    start: usize,
    /// The size of the frame whose header was read and whose body is awaited.
    pending_body: Option<usize>,
    failed: bool,
}

impl std::fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameDecoder")
            .field("max_frame", &self.max_frame)
            .field("buffered", &self.buffered())
            .finish_non_exhaustive()
    }
}

impl FrameDecoder {
    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buffer.len() / 2 {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes received but not yet consumed by a frame.
    pub fn buffered(&self) -> usize {
        self.buffer.len() - self.start
    }

    /// The bytes still needed before the next step (header or body) can be decoded.
    pub fn wanted(&self) -> usize {
        let need = self.pending_body.map_or(32, |size| padded(size) + 16);
        need.saturating_sub(self.buffered())
    }

    /// The next complete frame's payload, `None` if more bytes are needed. A MAC mismatch or
    /// an oversized frame is an error, after which the decoder refuses everything.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, RlpxError> {
        if self.failed {
            return Err(RlpxError::DecoderFailed);
        }
        let result = self.step();
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn step(&mut self) -> Result<Option<Vec<u8>>, RlpxError> {
        let size = match self.pending_body {
            Some(size) => size,
            None => {
                let Some(head) = self.buffer.get(self.start..self.start + 32) else {
                    return Ok(None);
                };
                let mut header = [0u8; 16];
                header.copy_from_slice(&head[..16]);
                self.mac.update_header(&header);
                if self.mac.digest() != head[16..32] {
                    return Err(RlpxError::HeaderMac);
                }
                self.cipher.apply_keystream(&mut header);
                let size = usize::from(header[0]) << 16
                    | usize::from(header[1]) << 8
                    | usize::from(header[2]);
                if size > self.max_frame {
                    return Err(RlpxError::FrameTooLarge { len: size, max: self.max_frame });
                }
                if size == 0 {
                    return Err(RlpxError::EmptyFrame);
                }
                self.start += 32;
                self.pending_body = Some(size);
                size
            }
        };
        let body_len = padded(size);
        let Some(body) = self.buffer.get(self.start..self.start + body_len + 16) else {
            return Ok(None);
        };
        let (ciphertext, mac) = body.split_at(body_len);
        self.mac.update_body(ciphertext);
        if self.mac.digest() != mac {
            return Err(RlpxError::FrameMac);
        }
        let mut payload = ciphertext.to_vec();
        self.cipher.apply_keystream(&mut payload);
        payload.truncate(size);
        self.start += body_len + 16;
        self.pending_body = None;
        Ok(Some(payload))
    }
}
