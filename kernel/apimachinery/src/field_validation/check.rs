//! The one-pass check of a JSON body: a serde visitor that walks the document beside its
//! schema, seeing every key (a parsed `serde_json::Value` keeps only the last of repeated ones).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{FieldProblem, push_index, push_key};
use crate::schema::{Schema, SchemaRef, SchemaSet};

/// Reads the JSON document `body` once and returns, in document order, the keys its objects
/// repeat and — below `root`, when a schema is given — the fields the schema does not know.
/// Without a schema every object is free-form (only repeated keys are problems). Inside a value
/// whose JSON type contradicts the schema, or an unknown field's value, nothing is reported, as
/// kube's decoder skips those. Fails only on malformed JSON.
pub fn check_json(
    body: &[u8],
    schemas: &SchemaSet,
    root: Option<SchemaRef>,
) -> Result<Vec<FieldProblem>, serde_json::Error> {
    let mut state = State {
        schemas,
        path: String::new(),
        problems: Vec::new(),
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    Walk {
        state: &mut state,
        expect: root.map_or(Expect::Anything, Expect::Schema),
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok(state.problems)
}

/// What the walk knows about the value it is at.
#[derive(Clone, Copy)]
enum Expect {
    /// A value of this schema.
    Schema(SchemaRef),
    /// Free-form JSON: only repeated keys are problems.
    Anything,
    /// A value kube's decoder skips: nothing inside is reported.
    Nothing,
}

/// The walk's shared state: where it is and what it found.
struct State<'s> {
    schemas: &'s SchemaSet,
    path: String,
    problems: Vec<FieldProblem>,
}

/// The walk at one value.
struct Walk<'w, 's> {
    state: &'w mut State<'s>,
    expect: Expect,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        match self.expect {
            Expect::Nothing => <IgnoredAny as serde::Deserialize>::deserialize(de).map(|_| ()),
            _ => de.deserialize_any(self),
        }
    }
}

impl Walk<'_, '_> {
    /// What a key of the object at hand holds; `None` for a field the schema does not know.
    fn key(&self, key: &str) -> Option<Expect> {
        match self.expect {
            Expect::Anything => Some(Expect::Anything),
            Expect::Nothing => Some(Expect::Nothing),
            Expect::Schema(at) => match self.state.schemas.get(at) {
                Schema::Object(_) => self.state.schemas.child(at, key).map(Expect::Schema),
                Schema::Any => Some(Expect::Anything),
                Schema::List(_) | Schema::Scalar => Some(Expect::Nothing),
            },
        }
    }

    /// What the elements of the list at hand hold.
    fn items(&self) -> Expect {
        match self.expect {
            Expect::Schema(at) => match self.state.schemas.get(at) {
                Schema::List(list) => Expect::Schema(list.items),
                Schema::Any => Expect::Anything,
                Schema::Object(_) | Schema::Scalar => Expect::Nothing,
            },
            other => other,
        }
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen: HashSet<Cow<'de, str>> = HashSet::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let start = self.state.path.len();
            push_key(&mut self.state.path, &key);
            let expect = match self.key(&key) {
                Some(expect) => {
                    if !matches!(expect, Expect::Nothing) && !seen.insert(key) {
                        let path = self.state.path.clone();
                        self.state.problems.push(FieldProblem::Duplicate(path));
                    }
                    expect
                }
                None => {
                    let path = self.state.path.clone();
                    self.state.problems.push(FieldProblem::Unknown(path));
                    Expect::Nothing
                }
            };
            map.next_value_seed(Walk {
                state: &mut *self.state,
                expect,
            })?;
            self.state.path.truncate(start);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let expect = self.items();
        let mut index = 0;
        loop {
            let start = self.state.path.len();
            push_index(&mut self.state.path, index);
            let more = seq
                .next_element_seed(Walk {
                    state: &mut *self.state,
                    expect,
                })?
                .is_some();
            self.state.path.truncate(start);
            if !more {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// An object key, borrowed from the body when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(key))
    }

    fn visit_str<E>(self, key: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(key.to_string()))
    }
}
