"""Non-parametric synthesis: Efros-Leung for pixels (texture, hole filling, extrapolation) and text."""
