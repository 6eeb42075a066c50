//! `dsr validate` tests live on main; this placeholder keeps `mod validate;` in main.rs
//! compiling on this branch until they arrive (take main's file when merging).
