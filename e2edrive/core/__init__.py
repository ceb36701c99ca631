"""Shared vocabulary of every room: types, camera rig, geometry, constants, seeding. No nn, no sim."""
