from flask import Blueprint

bp = Blueprint("enterprise", __name__)
