//! What a request is. Every kind of request the machine sends is one [`Request`]: the work it
//! carries, the response that answers it, when that answer is stale, how it is used and how the
//! work is given back. The path around it (`exchange.rs`) is written once: pick a peer, record
//! the request or give the work back when a bound is reached, send it; match what comes back by
//! id and peer, check its kind and staleness, use it, and give the work back on a timeout, a
//! disconnect, an empty answer or a violation.
//!
//! A new kind of request is one `Request` implementation and one loop in its phase's `assign`.
//! Requests are generic over the machine `M` they work on, so this file knows nothing of it.

use std::fmt;

use crate::{
    sync::{
        contract::{Misbehaviour, PeerId},
        rates::RequestKind,
    },
    wire::SnapMessage,
};

/// The outcome of using one answer.
pub(super) enum Processed {
    /// Items (or bytes) delivered, for the peer's rate.
    Delivered(u64),
    /// The peer answered empty: it lacks the state. The work is given back and the peer not
    /// asked for this kind of data for a while.
    Unavailable,
    /// The peer answered empty for a root the sync has moved past: peers drop old states, so
    /// the work moves to the current root. Given back; the peer is neither measured nor marked.
    Superseded,
}

/// One kind of request: the work it carries while in flight.
pub(super) trait Request<M>: fmt::Debug + Sized + 'static + Send {
    /// The kind of request (its rate, its bound, its response).
    const KIND: RequestKind;

    /// The message that answers it.
    type Response;

    /// The answer, if `message` is of the kind that answers this request.
    fn response(message: SnapMessage) -> Option<Self::Response>;

    /// Whether an answer can no longer be used: asked under a target the sync left, or for a
    /// chunk whose storage root changed. A stale answer is dropped, no fault of the peer (nor a
    /// measure of it).
    fn is_stale(&self, machine: &M) -> bool;

    /// Verifies the answer and takes what it delivers.
    fn on_response(
        &self,
        machine: &mut M,
        peer: PeerId,
        response: Self::Response,
        size: u64,
    ) -> Result<Processed, Misbehaviour>;

    /// Makes the work available again (unless it is for a root the sync left).
    fn give_back(self, machine: &mut M);
}

/// What became of an answer.
pub(super) enum Answer {
    /// Used: this many items for the peer's rate.
    Used(u64),
    /// Of no use any more; the work was given back.
    Stale,
    /// The peer lacks the data; the work was given back.
    Unavailable,
    /// The peer broke the protocol; the work was given back.
    Violation(Misbehaviour),
}

/// A request of any kind, as the table of requests in flight holds it.
pub(super) trait AnyRequest<M>: fmt::Debug + Send {
    /// Checks the answer's kind and staleness, uses it, and gives the work back unless it was
    /// used.
    fn answer(self: Box<Self>, machine: &mut M, peer: PeerId, message: SnapMessage) -> Answer;
    /// Makes the work available again.
    fn give_back(self: Box<Self>, machine: &mut M);
}

impl<M, R: Request<M>> AnyRequest<M> for R {
    fn answer(self: Box<Self>, machine: &mut M, peer: PeerId, message: SnapMessage) -> Answer {
        let (id, size) = (message.request_id(), message.encoded_len() as u64);
        let Some(response) = R::response(message) else {
            (*self).give_back(machine);
            return Answer::Violation(Misbehaviour::WrongResponseKind(id));
        };
        if self.is_stale(machine) {
            (*self).give_back(machine);
            return Answer::Stale;
        }
        let outcome = self.on_response(machine, peer, response, size);
        match outcome {
            Ok(Processed::Delivered(items)) => Answer::Used(items),
            Ok(Processed::Unavailable) => {
                (*self).give_back(machine);
                Answer::Unavailable
            }
            Ok(Processed::Superseded) => {
                (*self).give_back(machine);
                Answer::Stale
            }
            Err(reason) => {
                (*self).give_back(machine);
                Answer::Violation(reason)
            }
        }
    }

    fn give_back(self: Box<Self>, machine: &mut M) {
        Request::give_back(*self, machine);
    }
}
