//! The places under `max_connections`, and which connection gives its place up when
//! a new one comes and every place is taken: a server filled with clients that send
//! half a request head and then nothing (a slowloris) must still let real clients in.
//!
//! Pure bookkeeping, no sockets: [`super::conn`] says what each connection is doing
//! and acts on the answers.
//!
//! - A connection that has not finished sending a request head (its first, or a later
//!   one under way) is the first to go, the one that has waited longest first: the
//!   newcomer may be a real client, and that one has had the most time.
//! - Then a kept-alive connection that is quiet between requests, the one quiet
//!   longest first: its client can connect again.
//! - A connection whose request is being answered (a run waited for, an event stream)
//!   is never chosen: its client is being served.
//!
//! The candidates sit in an ordered map keyed by what they wait for and since when
//! (a tick of one counter, so equal times cannot collide), so choosing one and each
//! change of state are O(log n), under one short lock.
//!
//! The place moves to the newcomer at once: the chosen connection stops counting as
//! soon as it is chosen, and closes as soon as its task sees it was chosen. It never
//! gets a place back. What it does on the way out is [`super::conn`]'s part: it
//! closes at once when no request has reached the router; a request whose head came
//! in full just as it was chosen is answered `503` without reaching the router, and
//! an answer still being written is finished first.

use std::collections::{BTreeMap, HashMap};

/// A connection, as [`Places`] knows it.
pub type Id = u64;

/// What a connection that could be closed is waiting for; the first is closed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Wait {
    /// The rest of a request head: nothing yet since the connection opened, or part
    /// of a head.
    Head,
    /// The next request of a kept-alive connection, nothing of it sent yet.
    Idle,
}

impl Wait {
    /// For a log line: what the closed connection was doing.
    pub fn doing(self) -> &'static str {
        match self {
            Wait::Head => "had not sent a whole request head",
            Wait::Idle => "was idle between requests",
        }
    }
}

/// The answer to a new connection.
#[derive(Debug, PartialEq, Eq)]
pub enum Admitted<H> {
    /// A free place: the connection's id.
    Free(Id),
    /// The place of the connection with `handle`, which was waiting for `was`:
    /// close it. The new connection's id is `id`.
    Evicted { id: Id, handle: H, was: Wait },
    /// Every place is held by a connection being answered: refuse the new one.
    Full,
}

/// Every connection that holds a place, and who gives one up.
pub struct Places<H> {
    cap: usize,
    /// Places held (evicted connections no longer count).
    held: usize,
    /// Ids and ticks, from one counter.
    next: u64,
    /// The connections that could be closed, first the one to close first.
    candidates: BTreeMap<(Wait, u64), Id>,
    connections: HashMap<Id, Connection<H>>,
}

struct Connection<H> {
    handle: H,
    /// Its key in `candidates`, when it is one.
    waiting: Option<(Wait, u64)>,
    /// It gave its place up; it is on its way out.
    evicted: bool,
}

impl<H: Clone> Places<H> {
    pub fn new(cap: usize) -> Self {
        Places {
            cap,
            held: 0,
            next: 0,
            candidates: BTreeMap::new(),
            connections: HashMap::new(),
        }
    }

    fn tick(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// A new connection, which waits for its first request head: a free place, the
    /// place of the connection to close, or none.
    pub fn admit(&mut self, handle: H) -> Admitted<H> {
        let evicted = if self.held < self.cap {
            self.held += 1;
            None
        } else {
            match self.pick() {
                Some(evicted) => Some(evicted),
                None => return Admitted::Full,
            }
        };
        let id = self.tick();
        self.connections.insert(
            id,
            Connection {
                handle,
                waiting: None,
                evicted: false,
            },
        );
        self.wait(id, Wait::Head);
        match evicted {
            None => Admitted::Free(id),
            Some((handle, was)) => Admitted::Evicted { id, handle, was },
        }
    }

    /// The first candidate, marked as gone; its place is the caller's.
    fn pick(&mut self) -> Option<(H, Wait)> {
        while let Some(((was, _), id)) = self.candidates.pop_first() {
            if let Some(c) = self.connections.get_mut(&id) {
                c.waiting = None;
                c.evicted = true;
                return Some((c.handle.clone(), was));
            }
        }
        None
    }

    /// The connection now waits for `what`. Waiting for the same as before keeps its
    /// turn: more bytes of a head do not make it younger. Nothing for a connection
    /// that was evicted or closed.
    pub fn wait(&mut self, id: Id, what: Wait) {
        let Some(c) = self.connections.get(&id) else {
            return;
        };
        if c.evicted || c.waiting.is_some_and(|(w, _)| w == what) {
            return;
        }
        let old = c.waiting;
        let key = (what, self.tick());
        if let Some(old) = old {
            self.candidates.remove(&old);
        }
        self.candidates.insert(key, id);
        if let Some(c) = self.connections.get_mut(&id) {
            c.waiting = Some(key);
        }
    }

    /// A request of the connection is being answered: it is no candidate until it
    /// waits again. False when it was evicted before: its request must not be acted on.
    pub fn busy(&mut self, id: Id) -> bool {
        let Some(c) = self.connections.get_mut(&id) else {
            return false;
        };
        if let Some(key) = c.waiting.take() {
            self.candidates.remove(&key);
        }
        !c.evicted
    }

    /// Whether the connection was chosen to give its place up.
    #[cfg(test)]
    pub fn evicted(&self, id: Id) -> bool {
        self.connections.get(&id).is_some_and(|c| c.evicted)
    }

    /// The connection closed: its place is free, unless it gave it up already.
    pub fn close(&mut self, id: Id) {
        if let Some(c) = self.connections.remove(&id) {
            if let Some(key) = c.waiting {
                self.candidates.remove(&key);
            }
            if !c.evicted {
                self.held -= 1;
            }
        }
    }

    /// Places held now.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The id of a connection that got a free place.
    fn free(places: &mut Places<&'static str>, name: &'static str) -> Id {
        match places.admit(name) {
            Admitted::Free(id) => id,
            other => panic!("{name}: expected a free place, got {other:?}"),
        }
    }

    /// Admit `name` into a full server: whom it evicted, and its id.
    fn evicting(places: &mut Places<&'static str>, name: &'static str) -> (&'static str, Wait, Id) {
        match places.admit(name) {
            Admitted::Evicted { id, handle, was } => (handle, was, id),
            other => panic!("{name}: expected an eviction, got {other:?}"),
        }
    }

    #[test]
    fn unfinished_heads_go_first_oldest_first_then_idle_ones_never_busy_ones() {
        let mut places = Places::new(4);
        let a = free(&mut places, "a");
        let b = free(&mut places, "b");
        let c = free(&mut places, "c");
        let d = free(&mut places, "d");
        // a is answered, then kept alive and idle; b is being answered; c sends half
        // a head (which keeps its turn); d says nothing.
        assert!(places.busy(a));
        places.wait(a, Wait::Idle);
        assert!(places.busy(b));
        places.wait(c, Wait::Head);
        assert_eq!(places.held(), 4);

        let (gone, was, e) = evicting(&mut places, "e");
        assert_eq!((gone, was), ("c", Wait::Head));
        assert!(places.evicted(c) && !places.evicted(e));
        let (gone, was, _f) = evicting(&mut places, "f");
        assert_eq!((gone, was), ("d", Wait::Head));
        assert!(places.evicted(d) && !places.evicted(a) && !places.evicted(b));
        // The newcomers wait for their first heads: they go before the idle
        // connection, although it is older, and in the order they came.
        let (gone, _, _) = evicting(&mut places, "g");
        assert_eq!(gone, "e");
        let (gone, _, _) = evicting(&mut places, "h");
        assert_eq!(gone, "f");
        let (gone, _, _) = evicting(&mut places, "i");
        assert_eq!(gone, "g");
        assert_eq!(places.held(), 4, "an eviction moves a place, it adds none");
    }

    #[test]
    fn an_idle_connection_goes_when_no_head_is_unfinished_and_busy_ones_never() {
        let mut places = Places::new(2);
        let a = free(&mut places, "a");
        let b = free(&mut places, "b");
        assert!(places.busy(a));
        assert!(places.busy(b));
        assert_eq!(places.admit("c"), Admitted::Full);
        places.wait(b, Wait::Idle);
        let (gone, was, c) = evicting(&mut places, "c");
        assert_eq!((gone, was), ("b", Wait::Idle));
        assert!(places.busy(c));
        assert_eq!(places.admit("d"), Admitted::Full, "a and c are busy");
    }

    #[test]
    fn a_later_head_counts_from_when_it_started() {
        let mut places = Places::new(3);
        let a = free(&mut places, "a");
        free(&mut places, "b");
        free(&mut places, "c");
        // a opened first, was answered and starts its next head after b and c
        // opened: it has waited for this head the shortest.
        assert!(places.busy(a));
        places.wait(a, Wait::Idle);
        places.wait(a, Wait::Head);
        assert_eq!(evicting(&mut places, "d").0, "b");
        assert_eq!(evicting(&mut places, "e").0, "c");
        assert_eq!(evicting(&mut places, "f").0, "a");
    }

    #[test]
    fn an_evicted_connection_never_gets_its_place_back() {
        let mut places = Places::new(1);
        let a = free(&mut places, "a");
        let (gone, _, b) = evicting(&mut places, "b");
        assert_eq!(gone, "a");
        // Its head came in full as it was chosen: the request must not be acted on.
        assert!(!places.busy(a));
        places.wait(a, Wait::Idle);
        places.wait(a, Wait::Head);
        // b is the only candidate: a is not one again.
        assert_eq!(evicting(&mut places, "c").0, "b");
        // Closing an evicted connection frees nothing: its place is c's.
        places.close(a);
        places.close(b);
        assert_eq!(places.held(), 1);
    }

    #[test]
    fn a_closed_connection_frees_its_place_and_is_no_candidate() {
        let mut places = Places::new(2);
        let a = free(&mut places, "a");
        let b = free(&mut places, "b");
        places.close(a);
        assert_eq!(places.held(), 1);
        let c = free(&mut places, "c");
        // b is now the oldest waiting head; a is gone.
        assert_eq!(evicting(&mut places, "d").0, "b");
        assert!(places.evicted(b));
        // Late news of a closed connection changes nothing.
        places.wait(a, Wait::Idle);
        assert!(!places.busy(a));
        assert_eq!(evicting(&mut places, "e").0, "c");
        assert!(places.evicted(c));
    }

    #[test]
    fn many_connections_keep_their_order() {
        let mut places = Places::new(1000);
        let ids: Vec<Id> = (0..1000).map(|_| free(&mut places, "x")).collect();
        // Every other one is busy: the rest go in the order they came.
        for id in ids.iter().step_by(2) {
            assert!(places.busy(*id));
        }
        for want in ids.iter().skip(1).step_by(2) {
            match places.admit("y") {
                Admitted::Evicted { .. } => {}
                other => panic!("{other:?}"),
            }
            assert!(places.evicted(*want));
        }
    }
}
