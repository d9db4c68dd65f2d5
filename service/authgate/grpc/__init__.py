"""The gRPC door: AuthService over grpc.aio, a thin adapter over the core."""
