//! ECIES as devp2p uses it: ECDH on secp256k1, the NIST SP 800-56 concatenation KDF with SHA-256,
//! AES-128-CTR and HMAC-SHA-256 over `iv || ciphertext || shared-mac-data`.

use aes::cipher::{KeyIvInit, StreamCipher};
use alloy_primitives::B256;
use hmac::{Hmac, Mac};
use k256::{PublicKey, SecretKey, elliptic_curve::sec1::ToEncodedPoint};
use sha2::{Digest, Sha256};

use super::error::RlpxError;

type Aes128Ctr = ctr::Ctr64BE<aes::Aes128>;

/// Length of an uncompressed SEC1 public key (`0x04 || x || y`).
const PUBLIC_KEY_LEN: usize = 65;
/// Length of the AES-CTR IV.
const IV_LEN: usize = 16;
/// Length of the HMAC-SHA-256 tag.
const TAG_LEN: usize = 32;

/// Bytes ECIES adds around a plaintext: ephemeral public key, IV and tag.
pub const ECIES_OVERHEAD: usize = PUBLIC_KEY_LEN + IV_LEN + TAG_LEN;

/// The x coordinate of `secret * public`.
pub(crate) fn ecdh_x(secret: &SecretKey, public: &PublicKey) -> B256 {
    let shared = k256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine());
    B256::from_slice(shared.raw_secret_bytes())
}

/// The concatenation KDF (NIST SP 800-56A §5.8.1) with SHA-256 and empty other-info, for one
/// 32-byte output block: `sha256(counter=1 || z)`.
fn concat_kdf(z: &B256) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(1u32.to_be_bytes());
    hasher.update(z);
    hasher.finalize().into()
}

/// Derives the AES-128 key and the HMAC key from the ECDH secret.
fn derive_keys(shared: &B256) -> ([u8; 16], [u8; 32]) {
    let k = concat_kdf(shared);
    let mut enc = [0u8; 16];
    enc.copy_from_slice(&k[..16]);
    let mac: [u8; 32] = Sha256::digest(&k[16..]).into();
    (enc, mac)
}

fn tag(mac_key: &[u8; 32], iv: &[u8], ciphertext: &[u8], shared_mac_data: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(mac_key).expect("hmac takes any key length");
    mac.update(iv);
    mac.update(ciphertext);
    mac.update(shared_mac_data);
    mac
}

/// Encrypts `plaintext` to `remote` with the given ephemeral key and IV (drawn by the caller, so
/// that tests are deterministic), authenticating `shared_mac_data` too.
pub fn encrypt(
    remote: &PublicKey,
    plaintext: &[u8],
    shared_mac_data: &[u8],
    ephemeral: &SecretKey,
    iv: [u8; IV_LEN],
) -> Vec<u8> {
    let (enc_key, mac_key) = derive_keys(&ecdh_x(ephemeral, remote));
    let mut out = Vec::with_capacity(ECIES_OVERHEAD + plaintext.len());
    out.extend_from_slice(ephemeral.public_key().to_encoded_point(false).as_bytes());
    out.extend_from_slice(&iv);
    let start = out.len();
    out.extend_from_slice(plaintext);
    Aes128Ctr::new(&enc_key.into(), &iv.into()).apply_keystream(&mut out[start..]);
    let tag = tag(&mac_key, &iv, &out[start..], shared_mac_data).finalize().into_bytes();
    out.extend_from_slice(&tag);
    out
}

/// Decrypts an ECIES message addressed to `secret`, checking its tag over `shared_mac_data`.
pub fn decrypt(
    secret: &SecretKey,
    message: &[u8],
    shared_mac_data: &[u8],
) -> Result<Vec<u8>, RlpxError> {
    if message.len() < ECIES_OVERHEAD {
        return Err(RlpxError::EciesTooShort(message.len()));
    }
    let (key_bytes, rest) = message.split_at(PUBLIC_KEY_LEN);
    let (iv, rest) = rest.split_at(IV_LEN);
    let (ciphertext, received_tag) = rest.split_at(rest.len() - TAG_LEN);
    let ephemeral = PublicKey::from_sec1_bytes(key_bytes).map_err(|_| RlpxError::BadPublicKey)?;
    let (enc_key, mac_key) = derive_keys(&ecdh_x(secret, &ephemeral));
    tag(&mac_key, iv, ciphertext, shared_mac_data)
        .verify_slice(received_tag)
        .map_err(|_| RlpxError::EciesBadTag)?;
    let mut plaintext = ciphertext.to_vec();
    let mut iv_array = [0u8; IV_LEN];
    iv_array.copy_from_slice(iv);
    Aes128Ctr::new(&enc_key.into(), &iv_array.into()).apply_keystream(&mut plaintext);
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_slice(&[byte; 32]).expect("valid scalar")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn round_trip_and_tamper(
            plaintext in proptest::collection::vec(any::<u8>(), 0..300),
            shared in proptest::collection::vec(any::<u8>(), 0..4),
            flip in any::<usize>(),
        ) {
            let recipient = key(7);
            let sealed = encrypt(&recipient.public_key(), &plaintext, &shared, &key(9), [3; 16]);
            prop_assert_eq!(sealed.len(), plaintext.len() + ECIES_OVERHEAD);
            prop_assert_eq!(decrypt(&recipient, &sealed, &shared)?, plaintext);
            // Any flipped bit after the public key breaks the tag; the wrong key does too.
            let mut tampered = sealed.clone();
            let at = PUBLIC_KEY_LEN + flip % (tampered.len() - PUBLIC_KEY_LEN);
            tampered[at] ^= 1;
            prop_assert!(decrypt(&recipient, &tampered, &shared).is_err());
            prop_assert!(decrypt(&key(8), &sealed, &shared).is_err());
            let mut other_shared = shared;
            other_shared.push(1);
            prop_assert!(decrypt(&recipient, &sealed, &other_shared).is_err());
        }
    }
}
