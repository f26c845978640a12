//! The RLPx MAC: a running keccak-256 state, updated with AES-256-encrypted digests of itself.

use aes::{
    Aes256,
    cipher::{BlockEncrypt, KeyInit},
};
use alloy_primitives::{B256, Keccak256};

/// One direction's MAC state (egress or ingress).
#[derive(Clone)]
pub(crate) struct MacState {
    cipher: Aes256,
    hasher: Keccak256,
}

impl std::fmt::Debug for MacState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MacState").finish_non_exhaustive()
    }
}

impl MacState {
    /// A state keyed with `mac_secret`, continuing `hasher` (seeded by the handshake).
    pub(crate) fn new(mac_secret: &B256, hasher: Keccak256) -> Self {
        Self { cipher: Aes256::new(mac_secret.as_slice().into()), hasher }
    }

    /// The first 16 bytes of the current digest.
    pub(crate) fn digest(&self) -> [u8; 16] {
        let full = self.hasher.clone().finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    fn encrypted_digest(&self) -> [u8; 16] {
        let mut block = self.digest().into();
        self.cipher.encrypt_block(&mut block);
        block.into()
    }

    /// Absorbs a header ciphertext: `update(aes(mac-secret, digest) ^ header)`.
    pub(crate) fn update_header(&mut self, header_ciphertext: &[u8; 16]) {
        let mut seed = self.encrypted_digest();
        seed.iter_mut().zip(header_ciphertext).for_each(|(s, h)| *s ^= h);
        self.hasher.update(seed);
    }

    /// Absorbs a frame ciphertext, then `update(aes(mac-secret, digest) ^ digest)`.
    pub(crate) fn update_body(&mut self, body_ciphertext: &[u8]) {
        self.hasher.update(body_ciphertext);
        let digest = self.digest();
        let mut seed = self.encrypted_digest();
        seed.iter_mut().zip(digest).for_each(|(s, d)| *s ^= d);
        self.hasher.update(seed);
    }
}
