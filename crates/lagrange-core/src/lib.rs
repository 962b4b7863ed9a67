//! lagrange-core (under construction).
