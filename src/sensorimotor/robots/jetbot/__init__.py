"""The JetBot: a two-wheeled robot with a camera, driven over the network through RPyC.

- :mod:`.client`: ``JetBotRobot`` (``robot=jetbot``), the workstation side: camera frames and
  duration actions over a reconnecting RPyC connection;
- :mod:`.service`: the on-robot RPyC service (``sensorimotor jetbot serve``) exposing only the
  camera and motor methods, with a shared-secret handshake and a motor watchdog;
- :mod:`.motors`: smooth ramp profiles and the motor controller that plays them;
- :mod:`.backends`: the hardware behind the service: the real JetBot (the ``jetbot`` package,
  imported lazily) or a simulated one in MuJoCo (``sim/assets/scenes/jetbot_arena.xml``);
- :mod:`.wire`: what both sides agree on: frame encoding and the authentication handshake.
"""
