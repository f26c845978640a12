//! The RLPx ECIES handshake (auth/ack) for both roles, and the secrets it derives.

use alloy_primitives::{B256, B512, Keccak256, keccak256};
use alloy_rlp::{Decodable, Encodable, Header};
use k256::{
    PublicKey, SecretKey,
    ecdsa::{RecoveryId, Signature, SigningKey, VerifyingKey},
    elliptic_curve::sec1::ToEncodedPoint,
};
use rand_core::CryptoRngCore;

use super::{
    ecies::{ECIES_OVERHEAD, decrypt, ecdh_x, encrypt},
    error::RlpxError,
};

/// A node id: the 64-byte uncompressed secp256k1 public key without its `0x04` prefix.
pub type NodeId = B512;

/// The largest EIP-8 handshake packet accepted (size prefix excluded). Honest packets are
/// around 400-700 bytes with the recommended 100-300 bytes of padding.
pub const MAX_HANDSHAKE_PACKET: usize = 2048;

/// The RLPx handshake version we announce.
const HANDSHAKE_VERSION: u8 = 4;
/// Pre-EIP-8 auth plaintext: signature, ephemeral-key hash, public key, nonce, version byte.
const LEGACY_AUTH_PLAIN: usize = 65 + 32 + 64 + 32 + 1;
/// Pre-EIP-8 ack plaintext: ephemeral public key, nonce, version byte.
const LEGACY_ACK_PLAIN: usize = 64 + 32 + 1;

/// The node id of a public key.
pub fn node_id(key: &PublicKey) -> NodeId {
    let point = key.to_encoded_point(false);
    B512::from_slice(&point.as_bytes()[1..])
}

/// The public key a node id names, if it is a point on the curve.
pub fn public_key_from_id(id: &NodeId) -> Result<PublicKey, RlpxError> {
    let mut sec1 = [0u8; 65];
    sec1[0] = 4;
    sec1[1..].copy_from_slice(id.as_slice());
    PublicKey::from_sec1_bytes(&sec1).map_err(|_| RlpxError::BadPublicKey)
}

/// The random values one side of a handshake uses, drawn up front so that the state machine
/// itself is deterministic (tests inject fixed values).
#[derive(Clone, Debug)]
pub struct HandshakeRandom {
    /// The ephemeral key whose ECDH with the peer's ephemeral key keys the session.
    pub ephemeral_key: SecretKey,
    /// Our handshake nonce.
    pub nonce: B256,
    /// The ECIES ephemeral key encrypting our auth or ack packet.
    pub ecies_key: SecretKey,
    /// The ECIES IV for our packet.
    pub ecies_iv: [u8; 16],
    /// The EIP-8 padding appended to our packet (EIP-8 asks for at least 100 random bytes,
    /// so that packet sizes and contents do not identify the client).
    pub padding: Vec<u8>,
}

impl HandshakeRandom {
    /// Fixed values derived from `seed`, for tests, benches and fuzzing that need a
    /// reproducible handshake. Never use them for a real connection.
    ///
    /// # Panics
    ///
    /// For seeds 105, 106, 155 and 156 (they give an invalid [`fixed_key`]).
    pub fn from_seed(seed: u8) -> Self {
        Self {
            ephemeral_key: fixed_key(seed.wrapping_add(100)),
            nonce: B256::repeat_byte(seed),
            ecies_key: fixed_key(seed.wrapping_add(150)),
            ecies_iv: [seed; 16],
            padding: vec![seed; 100 + usize::from(seed)],
        }
    }

    /// Draws fresh values from a cryptographic RNG.
    pub fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut nonce = B256::ZERO;
        rng.fill_bytes(nonce.as_mut_slice());
        let mut ecies_iv = [0u8; 16];
        rng.fill_bytes(&mut ecies_iv);
        let mut padding = vec![0u8; 100 + (rng.next_u32() % 201) as usize];
        rng.fill_bytes(&mut padding);
        Self {
            ephemeral_key: SecretKey::random(rng),
            nonce,
            ecies_key: SecretKey::random(rng),
            ecies_iv,
            padding,
        }
    }
}

/// The secrets of an established RLPx connection.
#[derive(Clone)]
pub struct Secrets {
    /// The peer's node id (its static public key).
    pub remote_id: NodeId,
    /// The AES-256-CTR key of the frame cipher.
    pub aes_secret: B256,
    /// The AES-256 key of the MAC updates.
    pub mac_secret: B256,
    pub(crate) egress_mac: Keccak256,
    pub(crate) ingress_mac: Keccak256,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").field("remote_id", &self.remote_id).finish_non_exhaustive()
    }
}

impl Secrets {
    /// The ingress MAC's keccak state as the handshake left it.
    pub fn ingress_mac(&self) -> Keccak256 {
        self.ingress_mac.clone()
    }

    /// The egress MAC's keccak state as the handshake left it.
    pub fn egress_mac(&self) -> Keccak256 {
        self.egress_mac.clone()
    }
}

/// What a finished handshake hands over.
#[derive(Debug)]
pub struct HandshakeOutcome {
    /// The session secrets.
    pub secrets: Secrets,
    /// Bytes to send before any frame: the ack for a recipient, nothing for an initiator.
    pub reply: Vec<u8>,
    /// Bytes received after the peer's handshake packet: the start of the frame stream.
    pub leftover: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitingAuth,
    AwaitingAck,
    Finished,
}

/// One side of an RLPx handshake, fed the peer's bytes until it yields the [`Secrets`].
#[derive(Debug)]
pub struct Handshake {
    static_key: SecretKey,
    random: HandshakeRandom,
    remote: Option<PublicKey>,
    /// Our auth packet as sent (initiator only).
    auth_sent: Vec<u8>,
    buffer: Vec<u8>,
    state: State,
}

/// A decrypted handshake packet, and its raw bytes as received (prefix included).
struct Packet {
    plaintext: Vec<u8>,
    raw_len: usize,
    eip8: bool,
}

impl Handshake {
    /// Starts a handshake to `remote`; returns the state machine and the auth packet to send.
    pub fn initiator(
        static_key: SecretKey,
        remote: &NodeId,
        random: HandshakeRandom,
    ) -> Result<(Self, Vec<u8>), RlpxError> {
        let remote_key = public_key_from_id(remote)?;
        let static_shared = ecdh_x(&static_key, &remote_key);
        let signed = static_shared ^ random.nonce;
        let (signature, recovery) = SigningKey::from(&random.ephemeral_key)
            .sign_prehash_recoverable(signed.as_slice())
            .map_err(|_| RlpxError::BadSignature)?;
        let mut sig = [0u8; 65];
        sig[..64].copy_from_slice(&signature.to_bytes());
        sig[64] = recovery.to_byte();
        let id = node_id(&static_key.public_key());
        let fields_len = sig.length() + id.0.length() + random.nonce.0.length() + 1;
        let mut body = Vec::with_capacity(fields_len + 3 + random.padding.len());
        Header { list: true, payload_length: fields_len }.encode(&mut body);
        sig.encode(&mut body);
        id.0.encode(&mut body);
        random.nonce.0.encode(&mut body);
        HANDSHAKE_VERSION.encode(&mut body);
        body.extend_from_slice(&random.padding);
        let packet = seal_eip8(&remote_key, &body, &random);
        let machine = Self {
            static_key,
            random,
            remote: Some(remote_key),
            auth_sent: packet.clone(),
            buffer: Vec::new(),
            state: State::AwaitingAck,
        };
        Ok((machine, packet))
    }

    /// Waits for a peer's auth packet.
    pub fn recipient(static_key: SecretKey, random: HandshakeRandom) -> Self {
        Self {
            static_key,
            random,
            remote: None,
            auth_sent: Vec::new(),
            buffer: Vec::new(),
            state: State::AwaitingAuth,
        }
    }

    /// Feeds bytes from the peer. Returns the outcome once the peer's packet is complete,
    /// `None` while more bytes are needed. After an outcome or an error, further input is an
    /// error.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<HandshakeOutcome>, RlpxError> {
        if self.state == State::Finished {
            return Err(RlpxError::HandshakeFinished);
        }
        self.buffer.extend_from_slice(bytes);
        let legacy_len = ECIES_OVERHEAD
            + if self.state == State::AwaitingAuth { LEGACY_AUTH_PLAIN } else { LEGACY_ACK_PLAIN };
        let packet = match take_packet(&self.static_key, &self.buffer, legacy_len) {
            Ok(None) => return Ok(None),
            Ok(Some(packet)) => packet,
            Err(error) => {
                self.state = State::Finished;
                return Err(error);
            }
        };
        let result = match self.state {
            State::AwaitingAuth => self.on_auth(&packet),
            _ => self.on_ack(&packet),
        };
        self.state = State::Finished;
        let (secrets, reply) = result?;
        let leftover = self.buffer.split_off(packet.raw_len);
        Ok(Some(HandshakeOutcome { secrets, reply, leftover }))
    }

    fn on_auth(&self, packet: &Packet) -> Result<(Secrets, Vec<u8>), RlpxError> {
        let (sig, remote_id, remote_nonce) = if packet.eip8 {
            parse_auth_body(&packet.plaintext)?
        } else {
            let p = &packet.plaintext;
            if p.len() < 193 {
                return Err(RlpxError::HandshakeBody("auth"));
            }
            let sig: [u8; 65] = p[..65].try_into().map_err(|_| RlpxError::HandshakeBody("auth"))?;
            (sig, B512::from_slice(&p[97..161]), B256::from_slice(&p[161..193]))
        };
        let remote_key = public_key_from_id(&remote_id)?;
        let signed = ecdh_x(&self.static_key, &remote_key) ^ remote_nonce;
        let remote_ephemeral = recover(&sig, &signed)?;
        let ephemeral_id = node_id(&self.random.ephemeral_key.public_key());
        let reply = if packet.eip8 {
            let fields_len = ephemeral_id.0.length() + self.random.nonce.0.length() + 1;
            let mut body = Vec::with_capacity(fields_len + 3 + self.random.padding.len());
            Header { list: true, payload_length: fields_len }.encode(&mut body);
            ephemeral_id.0.encode(&mut body);
            self.random.nonce.0.encode(&mut body);
            HANDSHAKE_VERSION.encode(&mut body);
            body.extend_from_slice(&self.random.padding);
            seal_eip8(&remote_key, &body, &self.random)
        } else {
            let mut body = Vec::with_capacity(LEGACY_ACK_PLAIN);
            body.extend_from_slice(ephemeral_id.as_slice());
            body.extend_from_slice(self.random.nonce.as_slice());
            body.push(0);
            encrypt(&remote_key, &body, &[], &self.random.ecies_key, self.random.ecies_iv)
        };
        let secrets = derive_secrets(
            false,
            &self.random.ephemeral_key,
            &remote_ephemeral,
            &remote_nonce,
            &self.random.nonce,
            &self.buffer[..packet.raw_len],
            &reply,
            remote_id,
        );
        Ok((secrets, reply))
    }

    fn on_ack(&self, packet: &Packet) -> Result<(Secrets, Vec<u8>), RlpxError> {
        let (remote_ephemeral_id, remote_nonce) = if packet.eip8 {
            parse_ack_body(&packet.plaintext)?
        } else {
            let p = &packet.plaintext;
            if p.len() < 96 {
                return Err(RlpxError::HandshakeBody("ack"));
            }
            (B512::from_slice(&p[..64]), B256::from_slice(&p[64..96]))
        };
        let remote_ephemeral = public_key_from_id(&remote_ephemeral_id)?;
        let remote = self.remote.as_ref().ok_or(RlpxError::HandshakeFinished)?;
        let secrets = derive_secrets(
            true,
            &self.random.ephemeral_key,
            &remote_ephemeral,
            &self.random.nonce,
            &remote_nonce,
            &self.auth_sent,
            &self.buffer[..packet.raw_len],
            node_id(remote),
        );
        Ok((secrets, Vec::new()))
    }
}

/// ECIES-seals an EIP-8 body behind its 2-byte size prefix (which the tag covers).
fn seal_eip8(remote: &PublicKey, body: &[u8], random: &HandshakeRandom) -> Vec<u8> {
    // Bodies are a few hundred bytes: the size always fits the 16-bit prefix.
    let prefix = u16::try_from(body.len() + ECIES_OVERHEAD).unwrap_or(u16::MAX).to_be_bytes();
    let mut packet = prefix.to_vec();
    packet.extend(encrypt(remote, body, &prefix, &random.ecies_key, random.ecies_iv));
    packet
}

/// Finds and decrypts a complete handshake packet at the start of `buffer`.
fn take_packet(
    key: &SecretKey,
    buffer: &[u8],
    legacy_len: usize,
) -> Result<Option<Packet>, RlpxError> {
    if buffer.first() == Some(&4) {
        // Pre-EIP-8 packets start with the ECIES key's 0x04; an EIP-8 size prefix starting
        // with 0x04 would declare at least 1024 bytes, more than a legacy packet holds.
        let Some(candidate) = buffer.get(..legacy_len) else { return Ok(None) };
        if let Ok(plaintext) = decrypt(key, candidate, &[]) {
            return Ok(Some(Packet { plaintext, raw_len: legacy_len, eip8: false }));
        }
    }
    let Some(prefix) = buffer.get(..2) else { return Ok(None) };
    let size = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
    if !(ECIES_OVERHEAD..=MAX_HANDSHAKE_PACKET).contains(&size) {
        return Err(RlpxError::HandshakeSize(size));
    }
    let Some(sealed) = buffer.get(2..2 + size) else { return Ok(None) };
    let plaintext = decrypt(key, sealed, prefix)?;
    Ok(Some(Packet { plaintext, raw_len: 2 + size, eip8: true }))
}

/// Opens the RLP list of an EIP-8 body (trailing padding ignored) and returns its payload.
fn list_payload(mut body: &[u8]) -> Result<&[u8], RlpxError> {
    let header = Header::decode(&mut body).map_err(|_| RlpxError::HandshakeBody("not rlp"))?;
    if !header.list {
        return Err(RlpxError::HandshakeBody("not a list"));
    }
    body.get(..header.payload_length).ok_or(RlpxError::HandshakeBody("truncated list"))
}

fn field<T: Decodable>(payload: &mut &[u8], name: &'static str) -> Result<T, RlpxError> {
    T::decode(payload).map_err(|_| RlpxError::HandshakeBody(name))
}

/// `[sig, initiator-pubk, initiator-nonce, auth-vsn, ...]`; the version and extra elements
/// are ignored, as EIP-8 asks.
fn parse_auth_body(body: &[u8]) -> Result<([u8; 65], NodeId, B256), RlpxError> {
    let mut payload = list_payload(body)?;
    let sig: [u8; 65] = field(&mut payload, "auth signature")?;
    let id: [u8; 64] = field(&mut payload, "auth public key")?;
    let nonce: [u8; 32] = field(&mut payload, "auth nonce")?;
    Ok((sig, B512::from(id), B256::from(nonce)))
}

/// `[recipient-ephemeral-pubk, recipient-nonce, ack-vsn, ...]`.
fn parse_ack_body(body: &[u8]) -> Result<(NodeId, B256), RlpxError> {
    let mut payload = list_payload(body)?;
    let id: [u8; 64] = field(&mut payload, "ack public key")?;
    let nonce: [u8; 32] = field(&mut payload, "ack nonce")?;
    Ok((B512::from(id), B256::from(nonce)))
}

/// Recovers the signer's public key of a 65-byte `r || s || v` signature over `prehash`.
fn recover(sig: &[u8; 65], prehash: &B256) -> Result<PublicKey, RlpxError> {
    let signature = Signature::from_slice(&sig[..64]).map_err(|_| RlpxError::BadSignature)?;
    let recovery = RecoveryId::from_byte(sig[64]).ok_or(RlpxError::BadSignature)?;
    let key = VerifyingKey::recover_from_prehash(prehash.as_slice(), &signature, recovery)
        .map_err(|_| RlpxError::BadSignature)?;
    Ok(PublicKey::from(&key))
}

fn keccak_of(parts: &[&[u8]]) -> B256 {
    let mut hasher = Keccak256::new();
    parts.iter().for_each(|part| hasher.update(part));
    hasher.finalize()
}

/// Derives the session secrets; `auth` and `ack` are the packets as sent on the wire.
#[allow(clippy::too_many_arguments)]
fn derive_secrets(
    initiator: bool,
    ephemeral: &SecretKey,
    remote_ephemeral: &PublicKey,
    initiator_nonce: &B256,
    recipient_nonce: &B256,
    auth: &[u8],
    ack: &[u8],
    remote_id: NodeId,
) -> Secrets {
    let ephemeral_shared = ecdh_x(ephemeral, remote_ephemeral);
    let nonce_hash = keccak_of(&[recipient_nonce.as_slice(), initiator_nonce.as_slice()]);
    let shared = keccak256([ephemeral_shared.as_slice(), nonce_hash.as_slice()].concat());
    let aes_secret = keccak256([ephemeral_shared.as_slice(), shared.as_slice()].concat());
    let mac_secret = keccak256([ephemeral_shared.as_slice(), aes_secret.as_slice()].concat());
    let seeded = |nonce: &B256, packet: &[u8]| {
        let mut mac = Keccak256::new();
        mac.update(mac_secret ^ *nonce);
        mac.update(packet);
        mac
    };
    let (egress_mac, ingress_mac) = if initiator {
        (seeded(recipient_nonce, auth), seeded(initiator_nonce, ack))
    } else {
        (seeded(initiator_nonce, ack), seeded(recipient_nonce, auth))
    };
    Secrets { remote_id, aes_secret, mac_secret, egress_mac, ingress_mac }
}

/// A fixed secret key whose 32 bytes are all `byte`. For tests, benches and fuzzing only.
///
/// # Panics
///
/// For `byte` 0 (the zero scalar) and 0xff (above the group order); every other byte is a
/// valid scalar.
pub fn fixed_key(byte: u8) -> SecretKey {
    SecretKey::from_slice(&[byte; 32]).expect("a non-zero repeated byte below the order")
}

/// The connection secrets of both sides of one fixed handshake between the keys
/// `fixed_key(1)` (initiator) and `fixed_key(2)` (recipient), as `(initiator, recipient)`.
/// For tests, benches and fuzzing only.
pub fn fixed_handshake() -> (Secrets, Secrets) {
    let recipient_id = node_id(&fixed_key(2).public_key());
    let (mut initiator, auth) =
        Handshake::initiator(fixed_key(1), &recipient_id, HandshakeRandom::from_seed(1))
            .expect("fixed keys are valid");
    let ack = Handshake::recipient(fixed_key(2), HandshakeRandom::from_seed(2))
        .feed(&auth)
        .expect("our own auth is valid")
        .expect("one auth completes the recipient");
    let done = initiator
        .feed(&ack.reply)
        .expect("our own ack is valid")
        .expect("one ack completes the initiator");
    (done.secrets, ack.secrets)
}
