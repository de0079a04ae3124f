//! The emulator over real HTTP: every test starts its own emulator (on a manual clock) and a
//! recording bot, both on loopback.

mod auth;
mod bad_input;
mod connector;
mod conversations;
mod faults;
mod graph;
mod helpers;
mod limits;
mod people;
mod tenant;
