//! One module per subcommand.

pub mod cell;
