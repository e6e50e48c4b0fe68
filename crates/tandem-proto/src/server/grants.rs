//! What a connection may do in each room: the `rooms` claim of its token ([`RoomGrants`]),
//! checked by the server on every operation (PROTOCOL.md §5.8).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::pattern::RoomPattern;

/// One right a token can grant in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Right {
    /// Join the room and receive its messages.
    Subscribe,
    /// Publish to the room (numbered and ephemeral messages).
    Publish,
    /// Appear in the room's presence and update one's meta.
    Presence,
    /// Read the room's history.
    History,
}

impl Right {
    /// Every right, in the order above.
    pub const ALL: [Right; 4] = [
        Right::Subscribe,
        Right::Publish,
        Right::Presence,
        Right::History,
    ];

    fn bit(self) -> u8 {
        match self {
            Right::Subscribe => 1,
            Right::Publish => 2,
            Right::Presence => 4,
            Right::History => 8,
        }
    }
}

/// A set of [`Right`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rights(u8);

impl Rights {
    /// No right.
    pub const NONE: Rights = Rights(0);
    /// Every right.
    pub const ALL: Rights = Rights(15);

    /// Whether `right` is in the set.
    pub fn contains(self, right: Right) -> bool {
        self.0 & right.bit() != 0
    }

    /// The set with `right` added.
    #[must_use]
    pub fn with(self, right: Right) -> Rights {
        Rights(self.0 | right.bit())
    }

    /// Every right in either set.
    #[must_use]
    pub fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    /// The rights in the set, in the order of [`Right::ALL`].
    pub fn iter(self) -> impl Iterator<Item = Right> {
        Right::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl FromIterator<Right> for Rights {
    fn from_iter<I: IntoIterator<Item = Right>>(iter: I) -> Self {
        iter.into_iter().fold(Rights::NONE, Rights::with)
    }
}

/// Rights in the rooms matching a pattern (`*` stands for any run of characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomGrant {
    /// The rooms.
    pub pattern: RoomPattern,
    /// What the token may do there.
    pub rights: Rights,
}

/// The `rooms` claim: which rooms a token grants, and what it may do in each.
///
/// On the wire it is either a list of names or patterns, each with every right
/// (`["docs/*", "lobby"]`), or an object mapping each name or pattern to its rights
/// (`{"docs/*": ["subscribe", "history"], "lobby": ["subscribe", "publish", "presence"]}`).
/// A room matching several entries has the rights of all of them. An unknown right makes
/// the token malformed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomGrants(Vec<RoomGrant>);

impl RoomGrants {
    /// Grants of `grants`.
    pub fn new(grants: Vec<RoomGrant>) -> Self {
        RoomGrants(grants)
    }

    /// Every right in each of `patterns` (the list shape).
    pub fn all<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Self {
        RoomGrants(
            patterns
                .into_iter()
                .map(|p| RoomGrant {
                    pattern: RoomPattern::new(p),
                    rights: Rights::ALL,
                })
                .collect(),
        )
    }

    /// The grants, in the token's order.
    pub fn grants(&self) -> &[RoomGrant] {
        &self.0
    }

    /// The rights in `room`: those of every entry matching it (none when none does).
    pub fn rights(&self, room: &str) -> Rights {
        self.0
            .iter()
            .filter(|g| g.pattern.matches(room))
            .fold(Rights::NONE, |acc, g| acc.union(g.rights))
    }
}

/// The wire shapes of `rooms`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RoomsWire {
    List(Vec<String>),
    Map(BTreeMap<String, Vec<serde_json::Value>>),
}

impl<'de> Deserialize<'de> for RoomGrants {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let wire = RoomsWire::deserialize(deserializer).map_err(|_| {
            D::Error::custom(
                "`rooms` must be a list of room patterns or an object of pattern -> rights",
            )
        })?;
        match wire {
            RoomsWire::List(patterns) => Ok(RoomGrants::all(patterns.iter().map(String::as_str))),
            RoomsWire::Map(map) => {
                let mut grants = Vec::with_capacity(map.len());
                for (pattern, rights) in map {
                    let rights = rights
                        .into_iter()
                        .map(|r| {
                            serde_json::from_value::<Right>(r.clone()).map_err(|_| {
                                D::Error::custom(format!(
                                    "`rooms`.{pattern:?}: unknown right {r} (use subscribe, \
                                     publish, presence, history)"
                                ))
                            })
                        })
                        .collect::<Result<Rights, _>>()?;
                    grants.push(RoomGrant {
                        pattern: RoomPattern::new(&pattern),
                        rights,
                    });
                }
                Ok(RoomGrants(grants))
            }
        }
    }
}

impl Serialize for RoomGrants {
    /// The list shape when every entry has every right, else the object shape.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        if self.0.iter().all(|g| g.rights == Rights::ALL) {
            let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
            for g in &self.0 {
                seq.serialize_element(&g.pattern.to_string())?;
            }
            seq.end()
        } else {
            let mut map = serializer.serialize_map(Some(self.0.len()))?;
            for g in &self.0 {
                let rights: Vec<Right> = g.rights.iter().collect();
                map.serialize_entry(&g.pattern.to_string(), &rights)?;
            }
            map.end()
        }
    }
}

impl Right {
    /// The right's name in tokens.
    pub const fn as_str(self) -> &'static str {
        match self {
            Right::Subscribe => "subscribe",
            Right::Publish => "publish",
            Right::Presence => "presence",
            Right::History => "history",
        }
    }
}

impl core::fmt::Display for Right {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}
