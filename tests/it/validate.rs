//! `dsr validate` tests. (The module is declared in main.rs; validation of SaaS definitions
//! and settings is tested in http.rs.)
