//! One module per subcommand.

pub mod cell;
pub mod estimate;
pub mod fes;
pub mod lj;
pub mod umbrella;
