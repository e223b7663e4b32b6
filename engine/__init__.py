"""privgate's decision engine: pure logic over sqlglot trees and pydantic models, no I/O."""

__version__ = "0.1.0"
