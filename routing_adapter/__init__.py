"""Route model, travel times and the OR-Tools optimiser behind the `RoutingAdapter` boundary."""
